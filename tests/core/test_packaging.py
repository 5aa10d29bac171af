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
