"""The wheel carries the compiled German catalogue, made from the .po at build time (setup.py's build step), even
from a checkout where no .mo was ever compiled."""

import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_has_the_compiled_catalogue(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "__init__.py"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("core", "adapters", "plugins", "sandbox_kit"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    assert not list(source.glob("core/locale/*/LC_MESSAGES/*.mo"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("invoicebridge-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        mo = read_mo(io.BytesIO(archive.read("invoicebridge/core/locale/de/LC_MESSAGES/invoicebridge.mo")))
        assert "invoicebridge/core/locale/de/LC_MESSAGES/invoicebridge.po" in archive.namelist()
        assert "invoicebridge/sandbox_kit/templates/sandbox_base.html" in archive.namelist()  # the consoles' base page
    with (ROOT / "core/locale/de/LC_MESSAGES/invoicebridge.po").open("rb") as po:
        german = read_po(po, locale="de")
    assert mo.get("Awaiting payment").string == "Warten auf Zahlung"
    assert len([m for m in mo if m.id]) == len([m for m in german if m.id])
    from catalogues import domains

    for domain in domains()[1:]:  # each plugin's own catalogue, compiled the same way
        where = f"invoicebridge/{domain.po().relative_to(ROOT)}"
        with zipfile.ZipFile(wheel) as archive:
            assert where in archive.namelist()
            compiled = read_mo(io.BytesIO(archive.read(where[:-3] + ".mo")))
        assert len([m for m in compiled if m.id]) == len([m for m in domain.catalogue() if m.id]) > 0
