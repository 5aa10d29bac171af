"""A real server on loopback (the demo wiring) and headless Chromium from Debian, driven by Playwright."""

import os
import shutil
from pathlib import Path

import pytest
from live_server import serve_demo

CHROMIUM = os.environ.get("INVOICEBRIDGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_demo(tmp_path_factory.mktemp("demo"), check_specs=True) as running:
        yield running


class WatchedBrowser:
    """The browser, with every page it opens watched for Content-Security-Policy violations in the console."""

    def __init__(self, browser) -> None:
        self._browser = browser
        self.csp_violations: list[str] = []

    def new_page(self, *args, **kwargs):
        page = self._browser.new_page(*args, **kwargs)
        page.on("console", lambda msg: self.csp_violations.append(f"{page.url}: {msg.text}")
                if "Content Security Policy" in msg.text else None)
        return page

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield WatchedBrowser(b)
        finally:
            b.close()


@pytest.fixture(autouse=True)
def no_csp_violations(request):
    """Every browser test fails if a page broke the Content-Security-Policy (an inline handler, a foreign script)."""
    if "browser" not in request.fixturenames:
        yield
        return
    watched = request.getfixturevalue("browser")
    seen = len(watched.csp_violations)
    yield
    assert watched.csp_violations[seen:] == []


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
