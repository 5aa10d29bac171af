"""The store's request-path helpers: the writer thread (bookkeeping writes off the event loop) and the reads
kept until the database changes."""

import datetime as dt
import threading

import pytest

from invoicebridge.core.model import Role
from invoicebridge.core.store import Store, StoreWriteError


def test_the_writer_thread_never_loses_a_write(store):
    """Writes handed over from many threads, then close(): every one is in the database, none twice."""
    store.create_session("s", user="admin", kind="", data={}, now=0.0, expires_at=10**9)
    keys = [store.create_api_key(f"k{i}") for i in range(20)]
    t0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc)

    def touch(n: int) -> None:
        for i, key in enumerate(keys):
            assert store.check_api_key(key, now=t0 + dt.timedelta(minutes=n * 20 + i))
        store.update_session("s", last_seen=float(n))

    threads = [threading.Thread(target=touch, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    path = store.path
    store.close()
    again = Store.open(path)
    try:
        used = [k["last_used_at"] for k in again.list_api_keys()]
        assert all(used) and len(used) == 20
        assert again.get_session("s")["last_seen"] in {float(n) for n in range(8)}
    finally:
        again.close()


def test_a_touch_after_close_is_applied_not_dropped(tmp_path):
    store = Store.open(tmp_path / "ib.db")
    store.create_session("s", user="admin", kind="", data={}, now=1.0, expires_at=10**9)
    store.writer.close()
    store.update_session("s", last_seen=42.0)
    assert store.get_session("s")["last_seen"] == 42.0
    store.close()


def test_a_failed_write_surfaces_at_the_next_flush(store, caplog):
    store.writer.submit("UPDATE no_such_table SET x = 1")
    with pytest.raises(StoreWriteError, match="no_such_table"):
        store.writer.flush()
    assert "could not apply" in caplog.text
    store.writer.flush()  # reported once


def test_writer_touches_reach_a_reader_at_once(store):
    """list_api_keys waits for the writer: a use handed over is listed."""
    key = store.create_api_key("script")
    assert store.check_api_key(key, now=dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc))
    assert store.list_api_keys()[0]["last_used_at"] == "2026-11-20T10:00:00+00:00"


def test_kept_reads_follow_another_process_writes(tmp_path):
    """Settings, the active connection and API keys are kept per request burst, but a commit from another
    connection (another process) is seen by the next read."""
    one = Store.open(tmp_path / "ib.db")
    other = Store.open(tmp_path / "ib.db")
    try:
        assert one.get_settings()["reminder_due_days"] == 3
        assert one.active_connection(Role.CRM) is None
        key = other.create_api_key("late")
        other.update_settings({"reminder_due_days": 9})
        added = other.add_connection(backend="crm-x", role=Role.CRM)
        one._generation_at = 0.0  # what GENERATION_RECHECK_S (1 ms) of waiting does, without sleeping
        assert one.get_settings()["reminder_due_days"] == 9
        assert one.active_connection(Role.CRM).id == added.id
        assert one.check_api_key(key)
        one.create_session("s", user="admin", kind="admin", data={"user": "admin"}, now=1.0, expires_at=10**9)
        assert one.get_session("s")["user"] == "admin"
        other.revoke_api_key(other.list_api_keys()[0]["id"])
        other.delete_sessions(user="admin")  # "sign out everywhere" from another process
        one._generation_at = 0.0
        assert not one.check_api_key(key)
        assert one.get_session("s") is None
    finally:
        one.close()
        other.close()


def test_a_kept_read_is_dropped_by_this_store_s_own_write(store):
    assert store.get_settings()["note_on_create"] is True
    store.update_settings({"note_on_create": False})
    assert store.get_settings()["note_on_create"] is False
    copy = store.get_settings()
    copy["note_on_create"] = True  # the caller's copy, not the kept one
    assert store.get_settings()["note_on_create"] is False


def test_a_session_s_data_is_a_fresh_copy_each_time(store):
    store.create_session("s", user="admin", kind="", data={"deals": ["1"]}, now=1.0, expires_at=10**9)
    first = store.get_session("s")
    first["data"]["deals"].append("2")
    assert store.get_session("s")["data"] == {"deals": ["1"]}
