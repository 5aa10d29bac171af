"""The demo app served by uvicorn on loopback, for browser and CLI tests.

The socket is bound and listening before the server thread starts, so nothing needs to wait: connections
queue in the listen backlog until the server accepts them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Iterator

import uvicorn

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


def validate_against_specs(app) -> list:
    """Spec-validating transports between the demo app and its mounted sandboxes (see contract.py)."""
    import httpx
    import pipedrive_support
    import xero_support
    from contract import ValidatingTransport
    from qbo_support import XsdTransport

    inner = httpx.ASGITransport(app=app)
    runtime = app.state.runtime
    runtime.transports["xero"] = ValidatingTransport(inner, xero_support.load_specs(), xero_support.map_request)
    runtime.transports["pipedrive"] = ValidatingTransport(inner, pipedrive_support.load_specs(), pipedrive_support.map_request)
    runtime.transports["quickbooks"] = XsdTransport(inner)  # Intuit publishes XSDs, not an OpenAPI document
    return [runtime.transports["xero"], runtime.transports["pipedrive"], runtime.transports["quickbooks"]]


@contextlib.contextmanager
def serve_demo(data_dir: Path, *, check_specs: bool = False, accounting: str | None = None,
               port: int = 0) -> Iterator[tuple[object, dict]]:
    """The demo on loopback, on ``port`` (0: any free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    port = sock.getsockname()[1]
    app, info = build_demo(AppConfig(data_dir=data_dir, port=port, sync_interval=0), accounting=accounting)
    checked = validate_against_specs(app) if check_specs else []
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield app, info
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    problems = [p for t in checked for p in t.problems]
    assert not problems, "spec violations:\n" + "\n".join(problems)
    used = [t for t in checked if t.log]  # the accounting sandbox not connected is never called
    assert not checked or (used and all(any(note == "validated" for _, _, note in t.log) for t in used)), \
        "no API call was checked"
