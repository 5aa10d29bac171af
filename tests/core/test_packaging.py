import subprocess
import sys


def test_only_the_invoicebridge_root_is_importable(tmp_path):
    for bare in ("core", "plugins", "adapters"):
        out = subprocess.run([sys.executable, "-c", f"import {bare}"], cwd=tmp_path, capture_output=True, text=True)
        assert out.returncode != 0 and "ModuleNotFoundError" in out.stderr
    ok = subprocess.run([sys.executable, "-c", "import invoicebridge.core, invoicebridge.plugins.xero, invoicebridge.adapters.app"],
                        cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_console_script_lists_its_commands(tmp_path):
    out = subprocess.run([sys.executable, "-m", "invoicebridge.adapters.cli", "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("serve", "demo", "sync", "doctor"):
        assert command in out.stdout
    serve = subprocess.run([sys.executable, "-m", "invoicebridge.adapters.cli", "serve", "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert "--data-dir" in serve.stdout and "--host" in serve.stdout and "--port" in serve.stdout


def test_the_app_without_the_demo_imports_no_sandbox_module(tmp_path):
    # Sandboxes ship in the invoicebridge[sandbox] extra: serving the app (and the CLI) must not need them.
    script = f"""
import sys
from starlette.testclient import TestClient
from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
import invoicebridge.adapters.cli
app = create_app(AppConfig(data_dir={str(tmp_path / 'data')!r}, public_url="http://127.0.0.1:8000", admin_password="pw-123456"))
with TestClient(app) as client:
    assert client.get("/health").status_code in (200, 503)
loaded = sorted(m for m in sys.modules if m.startswith("invoicebridge.sandbox_kit") or m == "fpdf"
                or (m.startswith("invoicebridge.plugins.") and ".sandbox" in m))
print(loaded)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_sandbox_extra_is_declared_and_installed_by_make(tmp_path):
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert any(d.startswith("fpdf2") for d in project["project"]["optional-dependencies"]["sandbox"])
    assert not any(d.startswith("fpdf2") for d in project["project"]["dependencies"])
    assert "invoicebridge.sandbox_kit" in project["tool"]["setuptools"]["packages"]
    assert ".[test,sandbox]" in (root / "Makefile").read_text()
