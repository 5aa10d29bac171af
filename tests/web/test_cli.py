"""The command line against a running demo server: sync catches what no webhook told us, doctor, bulk, api-key."""

import subprocess
import sys

import httpx
from live_server import serve_demo


def cli(*args, data_dir):
    return subprocess.run([sys.executable, "-m", "invoicebridge.adapters.cli", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=120)


def test_sync_doctor_bulk_and_api_key_against_a_live_demo(tmp_path):
    with serve_demo(tmp_path, check_specs=True) as (app, info), \
            httpx.Client(base_url=info["app_url"], headers={"Authorization": f"Bearer {info['api_key']}"}) as api:
        app.state.sandboxes["xero"][1].webhook_url = ""  # no webhook: only a sync can notice what Xero does now
        invoice = api.post(f"/api/deals/{info['suggested_deal']}/invoices", json={}).json()
        assert api.post(f"{info['xero']['base_url']}/console/invoices/{invoice['remote_id']}/approve").status_code in (200, 303)
        assert api.get(f"/api/invoices/{invoice['id']}").json()["status"] == "DRAFT"

        synced = cli("sync", data_dir=tmp_path)
        assert synced.returncode == 0, synced.stderr
        assert "1 changed" in synced.stdout
        assert api.get(f"/api/invoices/{invoice['id']}").json()["status"] == "AWAITING_PAYMENT"

        doctor = cli("doctor", data_dir=tmp_path)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "as Fiona Finance (FINANCIALADVISER)" in doctor.stdout and "pipedrive       ok" in doctor.stdout

        dry = cli("bulk", "2", "5", "--dry-run", data_dir=tmp_path)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "deal 2: ready" in dry.stdout and "deal 5: ready" in dry.stdout and "nothing created" in dry.stdout

        key = cli("api-key", data_dir=tmp_path).stdout.strip()
        assert api.get("/api/deals/2/invoices", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert info["api_key"] not in doctor.stdout + synced.stdout + dry.stdout


def test_bulk_with_a_date_that_is_not_yyyy_mm_dd_says_so_instead_of_a_traceback(tmp_path, capsys):
    import pytest

    from invoicebridge.adapters.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["bulk", "--data-dir", str(tmp_path), "--won-from", "yesterday"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--won-from" in err and "YYYY-MM-DD" in err and "Traceback" not in err
