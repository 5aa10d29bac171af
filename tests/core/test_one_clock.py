"""One clock: every time the store writes comes from the clock the runtime runs on, so a simulated clock moves
leases, the outbox's times, an API key's last use, the audit and a setup code's expiry together."""

import datetime as dt

from invoicebridge.adapters.security import SETUP_CODE_TTL_S, issue_setup_code
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.store import Store

T0 = dt.datetime(2031, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)


def stamp(moment: dt.datetime) -> str:
    """A time as the store stamps its rows."""
    return moment.isoformat(timespec="microseconds")


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def now(self) -> dt.datetime:
        return self.at


def test_a_store_opened_with_a_clock_stamps_everything_with_it(tmp_path):
    clock = Clock()
    store = Store.open(tmp_path / "ib.db", clock=clock.now)
    try:
        store.put_operation("op-1", kind="create", deal_id="1", payload={})
        assert store.get_operation("op-1")["created_at"] == stamp(T0)
        clock.at = T0 + dt.timedelta(hours=1)
        assert store.claim_operation("op-1", lease_seconds=120)  # no ``now``: the store's clock, not the wall's
        op = store.get_operation("op-1")
        assert op["lease_until"] == (clock.at + dt.timedelta(seconds=120)).isoformat()
        assert op["updated_at"] == clock.at.isoformat()
        clock.at += dt.timedelta(seconds=60)
        until = store.renew_lease("op-1", held_until=op["lease_until"], lease_seconds=120)
        assert until == (clock.at + dt.timedelta(seconds=120)).isoformat()
        store.audit("note", "something happened", deal_id="1")
        assert store.audit_entries(deal_id="1")[-1]["at"] == stamp(clock.at)
    finally:
        store.close()


def test_the_runtime_and_the_store_share_one_clock(store):
    clock = Clock()
    runtime = Runtime(store=store, now=clock.now)
    clock.at = T0 + dt.timedelta(days=2)
    assert store.clock() == runtime.now() == clock.at
    store.enqueue("w-1", kind="crm_note", deal_id="7", record_id=None, payload={}, stamp=store._stamp())
    assert store.claim_operation("w-1")
    clock.at += dt.timedelta(minutes=5)
    store.retry_later("w-1", "busy", next_try_at=(runtime.now() + dt.timedelta(minutes=2)).isoformat())
    op = store.get_operation("w-1")
    assert op["created_at"] == stamp(T0 + dt.timedelta(days=2))
    assert op["updated_at"] == stamp(clock.at)
    assert op["next_try_at"] == (clock.at + dt.timedelta(minutes=2)).isoformat()
    runtime.now = lambda: T0 - dt.timedelta(days=400)  # a clock set later (tests do) is followed too
    store.audit("note", "moved", deal_id="7")
    assert store.audit_entries(deal_id="7")[-1]["at"] == stamp(T0 - dt.timedelta(days=400))


def test_the_runtime_owns_the_clock_a_store_opened_with_another_follows_it(tmp_path):
    """The runtime's clock wins in one direction only: the store's own clock never becomes the runtime's."""
    store_clock, runtime_clock = Clock(), Clock()
    runtime_clock.at = T0 + dt.timedelta(days=9)
    store = Store.open(tmp_path / "ib.db", clock=store_clock.now)
    try:
        runtime = Runtime(store=store, now=runtime_clock.now)
        assert runtime.now() == store.clock() == runtime_clock.at
        wall = Runtime(store=store)  # a runtime on the wall clock: the store follows the wall clock too
        assert wall.now is not store_clock.now and store.clock() != T0
        assert abs(store.clock() - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
    finally:
        store.close()


def test_an_api_key_s_last_use_follows_the_simulated_clock(store):
    clock = Clock()
    Runtime(store=store, now=clock.now)
    key = store.create_api_key("script")
    assert store.check_api_key(key)  # no ``now``: the store's clock
    listed = store.list_api_keys()[0]
    assert listed["created_at"] == stamp(T0)
    assert listed["last_used_at"] == T0.isoformat(timespec="seconds")


def test_a_setup_code_expires_by_the_store_s_clock(store):
    clock = Clock()
    Runtime(store=store, now=clock.now)
    issue_setup_code(store)
    assert store.get_app_secret("setup_code")["expires_at"] == T0.timestamp() + SETUP_CODE_TTL_S


def test_the_app_s_store_runs_on_the_app_s_clock(tmp_path, store):
    from invoicebridge.adapters.app import create_app
    from invoicebridge.adapters.config import AppConfig

    clock = Clock()
    app = create_app(AppConfig(data_dir=tmp_path / "data"), store=store, runtime_options={"now": clock.now})
    assert app.state.runtime.store is store
    store.audit("note", "app", deal_id="9")
    assert store.audit_entries(deal_id="9")[-1]["at"] == stamp(T0)
