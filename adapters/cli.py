"""The ``invoicebridge`` command line: serve, demo, sync, doctor, api-key, bulk."""

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

    demo = sub.add_parser("demo", help="run the web app with the Xero and Pipedrive sandboxes, connected and seeded")
    _add_data_dir(demo)
    _add_server_options(demo)

    sync = sub.add_parser("sync", help="reconcile invoice statuses once and finish left-over operations")
    _add_data_dir(sync)

    doctor = sub.add_parser("doctor", help="check the installation, the data folder and the connections")
    _add_data_dir(doctor)

    key = sub.add_parser("api-key", help="create an API key for the JSON API")
    _add_data_dir(key)
    key.add_argument("--label", default="cli", help="a name to tell the key apart later (default: cli)")

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


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    config = _config(args)
    app = create_app(config)
    print(f"invoicebridge on {config.public_url} (data in {config.data_dir.resolve()})", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info" if args.verbose else "warning")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from .demo import build_demo

    config = _config(args)
    if args.data_dir is None and "INVOICEBRIDGE_DATA_DIR" not in os.environ:
        config.data_dir = Path("data/demo")
    app, info = build_demo(config)  # the sandboxes live in memory, so every demo starts from a fresh database
    print(demo_banner(info), flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info" if args.verbose else "warning")
    return 0


def demo_banner(info: dict) -> str:
    lines = [
        "",
        "  invoicebridge demo is running",
        "  ─────────────────────────────",
        f"  Open        {info['app_url']}/",
        f"  Sign in     password: {info['admin_password']}",
        f"  Try         {info['app_url']}/deals/{info['suggested_deal']}  → Create invoice → Save as draft",
        f"  Xero        {info['xero']['console_url']}  (approve, pay, void as the Xero user)",
        f"  Pipedrive   {info['pipedrive']['console_url']}  (win a deal)",
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
    from invoicebridge.core.store import Store

    config = _config(args)
    store = Store.open(config.db_path)
    print(store.create_api_key(args.label))
    return 0


def cmd_bulk(args: argparse.Namespace) -> int:
    from .bulk import run_bulk

    return run_bulk(args, _offline_pipeline(_config(args)))


COMMANDS = {"serve": cmd_serve, "demo": cmd_demo, "sync": cmd_sync, "doctor": cmd_doctor, "api-key": cmd_api_key, "bulk": cmd_bulk}


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
