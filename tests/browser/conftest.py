"""A real server on loopback (the demo wiring) and headless Chromium from Debian, driven by Playwright."""

import os
import shutil
import socket
import threading
from pathlib import Path

import pytest
import uvicorn

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo

CHROMIUM = os.environ.get("INVOICEBRIDGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo app served by uvicorn on a socket bound before the thread starts, so no waiting is needed:
    connections queue in the listen backlog until the server accepts them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    data_dir = tmp_path_factory.mktemp("demo")
    app, info = build_demo(AppConfig(data_dir=data_dir, port=port, sync_interval=0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield app, info
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shots(tmp_path):
    """Screenshots go to the test's temporary folder (and to $INVOICEBRIDGE_SCREENSHOTS when set, to look at)."""
    keep = os.environ.get("INVOICEBRIDGE_SCREENSHOTS")

    def take(page, name):
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)
        return path

    return take
