"""The ``invoicebridge`` command line: serve, demo, sync, doctor, api-key (create, list, revoke), setup-code,
bulk."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from .config import AppConfig


def _add_server_options(p: argparse.ArgumentParser, default_port: int = 8000) -> None:
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help=f"port to listen on (default {default_port})")
    # uvicorn's own choices; "auto" takes uvloop and httptools when installed (the 'speed' extra), else asyncio and h11
    p.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="event loop (default auto)")
    p.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto", help="HTTP parser (default auto)")


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="folder for the database, secret key and demo.json (default ./data or $INVOICEBRIDGE_DATA_DIR)")


def _iso_date(value: str) -> str:
    import datetime as dt

    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invoicebridge", description="Create accounting invoices from CRM deals and keep their status on the deal.")
    parser.add_argument("--verbose", "-v", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web app")
    _add_data_dir(serve)
    _add_server_options(serve)

    demo = sub.add_parser("demo", help="run the web app with the installed plugins' sandboxes, connected and seeded")
    _add_data_dir(demo)
    _add_server_options(demo)
    demo.add_argument("--accounting", default=None, metavar="BACKEND",
                      help="the name of the accounting backend whose sandbox to connect (every sandbox is mounted; "
                           "default: the first not offered only on request)")

    sync = sub.add_parser("sync", help="reconcile invoice statuses once and finish left-over operations")
    _add_data_dir(sync)

    doctor = sub.add_parser("doctor", help="check the installation, the data folder and the connections")
    _add_data_dir(doctor)

    key = sub.add_parser("api-key", help="create, list or revoke API keys for the JSON API")
    _add_data_dir(key)
    key.add_argument("action", nargs="?", choices=["create", "list", "revoke"], default="create",
                     help="create (the default) prints a new key; list shows every key; revoke ID deletes one")
    key.add_argument("key_id", nargs="?", type=int, help="the id of the key to revoke (see `api-key list`)")
    key.add_argument("--label", default="cli", help="a name to tell the key apart later (default: cli)")
    key.add_argument("--yes", action="store_true", help="revoke without asking for confirmation")

    setup = sub.add_parser("setup-code", help="print a new one-time code for setting the first admin password")
    _add_data_dir(setup)

    bulk = sub.add_parser("bulk", help="invoice many deals at once (won deals in a date range, or ids)")
    _add_data_dir(bulk)
    bulk.add_argument("deal_ids", nargs="*", help="deal ids (or use --won-from/--won-to)")
    bulk.add_argument("--won-from", type=_iso_date, help="won on or after this date (YYYY-MM-DD)")
    bulk.add_argument("--won-to", type=_iso_date, help="won on or before this date (YYYY-MM-DD)")
    bulk.add_argument("--pipeline", default="", help="only deals in this pipeline id")
    bulk.add_argument("--stage", default="", help="only deals in this stage id")
    bulk.add_argument("--dry-run", action="store_true", help="preview every invoice and problem, create nothing")
    bulk.add_argument("--run-id", default=None, help="a name for this run; running it again never duplicates")
    return parser


def _config(args: argparse.Namespace) -> AppConfig:
    return AppConfig.from_env(data_dir=getattr(args, "data_dir", None), host=getattr(args, "host", None), port=getattr(args, "port", None))


def _offline_pipeline(config: AppConfig):
    """A pipeline without the web server (sync, doctor, bulk)."""
    from invoicebridge.core.pipeline import Pipeline
    from invoicebridge.core.plugins import Plugins
    from invoicebridge.core.runtime import Runtime
    from invoicebridge.core.store import Store

    from .app import _backend_config

    store = Store.open(config.db_path)
    runtime = Runtime(store=store, public_url=config.public_url, config=_backend_config(store, config))
    _use_demo_url(config, runtime)
    return Pipeline(runtime, Plugins())


def _use_demo_url(config: AppConfig, runtime) -> None:
    """Commands run against a demo data folder use the demo server's URL (its sandboxes answer there, over
    loopback, at the URLs the connections were made with)."""
    info = config.data_dir / "demo.json"
    if info.exists():
        runtime.public_url = json.loads(info.read_text()).get("app_url", runtime.public_url)


def _run(app, config: AppConfig, args: argparse.Namespace) -> None:
    """Serve ``app`` with uvicorn until stopped."""
    import gc

    import uvicorn

    async def settle(app) -> None:
        # What start-up built (routes, templates, catalogues, the demo's sandboxes and data) lives as long as the
        # process. Frozen, it is no longer walked by the collector's full passes, which under load were pauses of
        # 30-130 ms in the request path; garbage made later is collected as before.
        gc.collect()
        gc.freeze()

    app.state.startup_hooks.append(settle)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info" if args.verbose else "warning",
                loop=args.loop, http=args.http, **config.uvicorn_options())


def cmd_serve(args: argparse.Namespace) -> int:
    from .app import create_app

    from .security import issue_setup_code

    config = _config(args)
    app = create_app(config)
    print(f"invoicebridge on {config.public_url} (data in {config.data_dir.resolve()})", flush=True)
    store = app.state.runtime.store
    if store.get_app_secret("admin_password") is None:
        code = issue_setup_code(store, app.state.runtime.now().timestamp())
        print(setup_code_banner(code, config), flush=True)
    _run(app, config, args)
    return 0


def setup_code_banner(code: str, config: AppConfig) -> str:
    from invoicebridge.core.i18n import _

    from .security import SETUP_CODE_TTL_S

    return "\n".join(["", "  " + _("No admin password is set yet. Open %(url)s/login and enter this setup code:") % {"url": config.public_url},
                      "", f"      {code}", "",
                      "  " + _("It works once, for %(n)s minutes; `invoicebridge setup-code` prints a new one.") % {"n": SETUP_CODE_TTL_S // 60},
                      ""])


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import build_demo

    config = _config(args)
    if args.data_dir is None and "INVOICEBRIDGE_DATA_DIR" not in os.environ:
        config.data_dir = Path("data/demo")
    app, info = build_demo(config, accounting=args.accounting)  # the sandboxes live in memory, so every demo starts from a fresh database
    print(demo_banner(info), flush=True)
    _run(app, config, args)
    return 0


def demo_banner(info: dict) -> str:
    lines = [
        "",
        "  invoicebridge demo is running",
        "  ─────────────────────────────",
        f"  Open        {info['app_url']}/",
        f"  Sign in     password: {info['admin_password']}",
        f"  Try         {info['app_url']}/deals/{info['suggested_deal']}  → Create invoice → {info.get('save_action', 'Save as draft')}",
        *(f"  {b['label']:<11} {b['console_url']}" + (f"  ({b['hint']})" if b["hint"] else "") for b in info.get("backends", [])),
        f"  API         curl -H 'Authorization: Bearer {info['api_key']}' {info['app_url']}/api/deals/{info['suggested_deal']}/invoices",
        f"  Details     {info['demo_json']}",
        "  Stop with Ctrl+C.",
        "",
    ]
    return "\n".join(lines)


def cmd_sync(args: argparse.Namespace) -> int:
    from invoicebridge.core.errors import InvoiceBridgeError

    pipeline = _offline_pipeline(_config(args))
    try:
        report = asyncio.run(pipeline.reconcile())
    except InvoiceBridgeError as exc:
        print(f"sync failed: {exc}", file=sys.stderr)
        return 1
    print(f"checked {report.checked} invoices, {report.changed} changed, {report.rejected} refused by the status rules, "
          f"{report.recovered} left-over operations finished")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from invoicebridge.core.errors import InvoiceBridgeError

    config = _config(args)
    ok = True
    print(f"data folder     {config.data_dir.resolve()}")
    try:
        pipeline = _offline_pipeline(config)
    except InvoiceBridgeError as exc:
        print(f"store           FAILED: {exc}")
        return 1
    store = pipeline.store
    print(f"database        {config.db_path} (schema {store.schema_version})")
    key_file = config.data_dir / "secret.key"
    key_source = "INVOICEBRIDGE_SECRET_KEY" if os.environ.get("INVOICEBRIDGE_SECRET_KEY") else (str(key_file) if key_file.exists() else "missing")
    print(f"secret key      {key_source}")
    print("plugins         " + ", ".join(f"{b.name} ({b.role.value})" for b in pipeline.plugins.backends()))
    connections = store.list_connections()
    if not connections:
        print("connections     none yet: open the web app and go to Connections")
    for conn in connections:
        try:
            health = asyncio.run(pipeline.plugins.check(pipeline.runtime, connection=conn))
            who = f" as {health.user.name} ({health.user.role})" if health.user else ""
            print(f"{conn.backend:<15} {'ok' if health.ok else 'NOT OK: ' + health.detail}{who}")
            ok = ok and health.ok
        except InvoiceBridgeError as exc:
            print(f"{conn.backend:<15} FAILED: {exc}")
            ok = False
    stuck = store.operations(states=("failed", "dead"))
    print(f"failed creates  {len(stuck)}" + (" (see the dashboard; retry there)" if stuck else ""))
    return 0 if ok else 1


def cmd_api_key(args: argparse.Namespace) -> int:
    from invoicebridge.core.errors import NotFound
    from invoicebridge.core.i18n import _, lazy_
    from invoicebridge.core.store import Store

    config = _config(args)
    store = Store.open(config.db_path)
    if args.action == "create":
        if args.key_id is not None:
            print(_("api-key create takes no id; name the key with --label"), file=sys.stderr)
            return 2
        print(store.create_api_key(args.label))
        store.audit("api_key_created", lazy_("API key '%(label)s' created with the command line", label=args.label))
        return 0
    if args.action == "list":
        keys = store.list_api_keys()
        if not keys:
            print(_("No API keys; create one with `invoicebridge api-key create --label NAME`."))
        for k in keys:
            print(f"{k['id']:>4}  {(k['hint'] or '') + '…':<10}  {k['label'] or '-':<24}  "
                  + _("created %(created)s, last used %(used)s") % {"created": k["created_at"] or "-", "used": k["last_used_at"] or _("never")})
        return 0
    if args.key_id is None:
        print(_("Say which key to revoke: `invoicebridge api-key revoke ID` (ids are in `invoicebridge api-key list`)."), file=sys.stderr)
        return 2
    found = [k for k in store.list_api_keys() if k["id"] == args.key_id]
    if not found:
        print(_("There is no API key %(id)s; `invoicebridge api-key list` shows the keys.") % {"id": args.key_id}, file=sys.stderr)
        return 1
    if not args.yes:
        answer = input(_("Revoke API key %(id)s (%(label)s)? Requests with it will be refused. [y/N] ") % {"id": args.key_id, "label": found[0]["label"]})
        if answer.strip().lower() not in ("y", "yes"):
            print(_("Nothing revoked."))
            return 1
    try:
        store.revoke_api_key(args.key_id)
    except NotFound as exc:
        print(exc.message, file=sys.stderr)
        return 1
    store.audit("api_key_revoked", lazy_("API key %(id)s '%(label)s' revoked with the command line", id=args.key_id, label=found[0]["label"]))
    print(_("API key %(id)s revoked.") % {"id": args.key_id})
    return 0


def cmd_setup_code(args: argparse.Namespace) -> int:
    from invoicebridge.core.i18n import _
    from invoicebridge.core.store import Store

    from .security import issue_setup_code

    config = _config(args)
    store = Store.open(config.db_path)
    if store.get_app_secret("admin_password") is not None or config.admin_password:
        print(_("The admin password is already set; sign in with it (a setup code is only for the first password)."), file=sys.stderr)
        return 1
    print(setup_code_banner(issue_setup_code(store), config))
    return 0


def cmd_bulk(args: argparse.Namespace) -> int:
    from .bulk import run_bulk

    return run_bulk(args, _offline_pipeline(_config(args)))


COMMANDS = {"serve": cmd_serve, "demo": cmd_demo, "sync": cmd_sync, "doctor": cmd_doctor, "api-key": cmd_api_key,
            "setup-code": cmd_setup_code, "bulk": cmd_bulk}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.command:
        parser.print_help()
        return 0
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
