import os
import stat

import pytest

from invoicebridge.core.errors import ConfigurationError, NotFound
from invoicebridge.core.store import Store


def test_database_file_holds_no_plaintext_secret(tmp_path):
    store = Store.open(tmp_path / "ib.db")
    conn = store.add_connection(backend="xero", role="accounting", secrets={"access_token": "eyJ-PLAIN-ACCESS", "refresh_token": "REFRESH-PLAIN"})
    store.set_app_secret("webhook_key", "WEBHOOK-KEY-PLAIN")
    store.kv_set("x", "y", {"ok": True})
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ib.db"))
    for secret in (b"eyJ-PLAIN-ACCESS", b"REFRESH-PLAIN", b"WEBHOOK-KEY-PLAIN"):
        assert secret not in raw
    reopened = Store.open(tmp_path / "ib.db")
    assert reopened.get_secrets(conn.id)["refresh_token"] == "REFRESH-PLAIN"
    assert reopened.get_app_secret("webhook_key") == "WEBHOOK-KEY-PLAIN"


def test_key_file_is_private_and_a_wrong_key_gives_a_clear_error(tmp_path, monkeypatch):
    store = Store.open(tmp_path / "ib.db")
    conn = store.add_connection(backend="xero", role="accounting", secrets={"t": 1})
    store.close()
    assert stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode) == 0o600
    from cryptography.fernet import Fernet

    monkeypatch.setenv("INVOICEBRIDGE_SECRET_KEY", Fernet.generate_key().decode())
    other = Store.open(tmp_path / "ib.db")
    with pytest.raises(ConfigurationError, match="reconnect"):
        other.get_secrets(conn.id)
    monkeypatch.setenv("INVOICEBRIDGE_SECRET_KEY", "not-a-key")
    with pytest.raises(ConfigurationError, match="not a valid key"):
        Store.open(tmp_path / "ib2.db")


def test_wal_mode_and_migrations_are_recorded(store):
    from invoicebridge.core.store import MIGRATIONS

    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == len(MIGRATIONS) == 7
    store.migrate()  # idempotent
    assert store.schema_version == 7


def test_a_version_1_database_gains_sessions_and_key_use_and_keeps_its_keys(tmp_path, monkeypatch):
    from invoicebridge.core import store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    old = Store.open(tmp_path / "v1.db")
    old.db["api_keys"].insert(  # a key as version 1 wrote it
        {"digest": store_module._digest("ib_v1key"), "label": "from v1", "created_at": "2026-11-01T10:00:00+00:00"})
    assert old.schema_version == 1
    old.close()
    monkeypatch.undo()
    new = Store.open(tmp_path / "v1.db")
    assert new.schema_version == 7 and "sessions" in new.db.table_names()
    assert new.check_api_key("ib_v1key")
    assert [(k["label"], k["hint"]) for k in new.list_api_keys()] == [("from v1", None)]
    assert new.list_api_keys()[0]["last_used_at"]
    new.close()


def test_a_version_2_database_moves_operation_holders_from_kv_onto_the_operations(tmp_path, monkeypatch):
    """Version 2 kept each create's holder in a kv row that was never removed; version 3 keeps it on the row."""
    from invoicebridge.core import store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:2])
    old = Store.open(tmp_path / "v2.db")
    old.put_operation("k1", kind="create", deal_id="1", payload={})
    old.kv_set("operation-holder", "k1", "host|ns|42|7")
    old.kv_set("operation-holder", "gone", "host|ns|43|7")
    old.close()
    monkeypatch.undo()
    new = Store.open(tmp_path / "v2.db")
    assert new.get_operation("k1")["holder"] == "host|ns|42|7"
    assert new.kv_items("operation-holder") == {}
    assert new.get_operation("k1")["next_try_at"] == "" and "sent" in new.db["invoices"].columns_dict
def test_a_version_2_database_gets_the_neutral_statuses(tmp_path, monkeypatch):
    """Statuses used to be stored in one backend's words (SUBMITTED, AUTHORISED): invoices, the drafts waiting
    in operations, the mapping's and the settings' create status all move to the neutral names."""
    import json

    from invoicebridge.core import store as store_module
    from invoicebridge.core.status import InvoiceStatus

    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:2])
    old = Store.open(tmp_path / "v2.db")
    for n, status in enumerate(["DRAFT", "SUBMITTED", "AUTHORISED", "PAID"]):
        old.db["invoices"].insert({"deal_id": "1", "backend": "b", "remote_id": f"r{n}", "number": f"INV-{n}",
                                   "status": status, "currency": "GBP", "operation_key": f"op{n}"})
    old.db["operations"].insert({"key": "op9", "kind": "create", "deal_id": "1",
                                 "payload": json.dumps({"draft": {"status": "AUTHORISED", "reference": "AUTHORISED"}})})
    old.db["settings"].insert_all([{"key": "mapping", "value": json.dumps({"status": "SUBMITTED", "account_code": "200"})},
                                   {"key": "create_status", "value": json.dumps("AUTHORISED")}])
    old.close()
    monkeypatch.undo()
    new = Store.open(tmp_path / "v2.db")
    assert [new.invoice_by_remote("b", f"r{n}").status for n in range(4)] == [
        InvoiceStatus.DRAFT, InvoiceStatus.AWAITING_APPROVAL, InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PAID]
    payload = json.loads(new.conn.execute("SELECT payload FROM operations WHERE key = 'op9'").fetchone()[0])
    assert payload == {"draft": {"status": "AWAITING_PAYMENT", "reference": "AUTHORISED"}}  # only statuses change
    assert new.get_mapping_data() == {"status": "AWAITING_APPROVAL", "account_code": "200"}
    assert new.get_settings()["create_status"] == "AWAITING_PAYMENT"
    new.close()


def test_one_record_per_operation_and_per_remote_invoice(store):
    a = store.insert_invoice(deal_id="1", backend="xero", remote_id="r1", number="INV-1", status="DRAFT", currency="GBP", operation_key="op")
    b = store.insert_invoice(deal_id="1", backend="xero", remote_id="r1", number="INV-1", status="DRAFT", currency="GBP", operation_key="op2")
    c = store.insert_invoice(deal_id="1", backend="xero", remote_id="r2", number="INV-2", status="DRAFT", currency="GBP", operation_key="op")
    assert a.id == b.id == c.id and store.count_invoices() == 1


def test_only_one_worker_claims_an_operation_across_connections(tmp_path):
    first = Store.open(tmp_path / "ib.db")
    second = Store.open(tmp_path / "ib.db")
    first.put_operation("k", kind="create", deal_id="1", payload={})
    assert first.claim_operation("k") is True
    assert second.claim_operation("k") is False
    second.fail_operation("k", "boom")
    assert second.claim_operation("k") is True


def test_webhook_receipts_deduplicate(store):
    assert store.first_receipt("xero", "e1") and not store.first_receipt("xero", "e1")
    assert store.first_receipt("pipedrive", "e1")


def test_unknown_ids_are_not_found(store):
    with pytest.raises(NotFound):
        store.get_invoice(99)
    with pytest.raises(NotFound):
        store.get_connection(99)


def test_api_keys_are_stored_as_digests(store):
    key = store.create_api_key("ci")
    assert store.check_api_key(key) and not store.check_api_key(key + "x") and not store.check_api_key("")
    assert key.encode() not in b"".join(str(r).encode() for r in store.conn.execute("SELECT * FROM api_keys"))


def test_new_connection_of_a_role_replaces_the_active_one(store):
    store.add_connection(backend="xero", role="accounting")
    newer = store.add_connection(backend="xero", role="accounting", label="new")
    assert store.active_connection("accounting").id == newer.id
    store.deactivate_connection(newer.id)
    assert store.active_connection("accounting") is None


def test_two_processes_creating_the_key_at_once_share_the_first_one(tmp_path, monkeypatch):
    """`serve` and `api-key` started together on a fresh data folder: both see no secret.key; the second to
    write must use the first one's key (not crash on the existing file, nor seal with a key nobody keeps)."""
    from pathlib import Path

    from invoicebridge.core.secrets import load_or_create_key

    monkeypatch.delenv("INVOICEBRIDGE_SECRET_KEY", raising=False)
    first = load_or_create_key(tmp_path)
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if self.name == "secret.key" else real_exists(self))
    assert load_or_create_key(tmp_path) == first
    assert (tmp_path / "secret.key").read_bytes().strip() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key"]  # no temporary file left behind


def test_reads_that_grow_with_the_tables_use_an_index_not_a_scan(store):
    """bench/curve.py at 100,000 invoices: the dashboard's recent invoices sorted the whole table and the outbox
    scanned every operation for one invoice's write-backs."""

    def plan(sql: str, args: tuple) -> str:
        return " | ".join(row[-1] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, args))

    recent = plan("SELECT * FROM invoices ORDER BY updated_at DESC LIMIT ?", (50,))
    assert "USE TEMP B-TREE" not in recent and "updated_at" in recent
    by_record = plan("SELECT * FROM operations WHERE kind IN (?, ?) AND record_id = ?", ("crm_note", "crm_activity", 7))
    assert "record_id" in by_record and not by_record.startswith("SCAN")
