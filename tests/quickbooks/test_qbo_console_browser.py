"""The QBO console in German at a phone width (390 px), in headless Chromium: with a EUR and a USD invoice listed
the page scrolled sideways (860 px: the request paths did not wrap, and the six-column invoice table did not fit)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from live_server import serve_demo

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("INVOICEBRIDGE_CHROMIUM", "/usr/bin/chromium")


def test_console_fits_a_phone_in_german(tmp_path):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists()
    with serve_demo(tmp_path, check_specs=True, accounting="quickbooks") as (_app, info):
        base = info["app_url"].rstrip("/")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {info['api_key']}"}, timeout=120) as api:
            for deal in ("2", "3"):
                assert api.post(f"/api/deals/{deal}/invoices", json={}).status_code == 201
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 390, "height": 900}, locale="de")
                page.goto(f"{base}/sandbox/quickbooks/?lang=de")
                assert page.locator("html").get_attribute("lang") == "de"
                assert page.locator("input[name=amount]").count() == 2
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
            finally:
                browser.close()
