"""The connections page and the dashboard name each system once, and offer the other accounting system as a
switch (it replaces the connected one), not as a first connection."""

import re

from demo_client import api_demo, page_client


def test_a_connected_account_is_named_once_beside_its_system(tmp_path):
    with api_demo(tmp_path) as (client, app, info):
        browser = page_client(app, info)
        dashboard = browser.get("/").text
        assert "Xero: Xero:" not in dashboard and "Connected Xero: Demo Company (UK) as Fiona Finance" in dashboard
        assert re.search(r"<strong>Xero</strong>\s*<span class=\"badge green\">Connected</span>\s*Demo Company", dashboard)
        page = browser.get("/connections").text
        assert "<dd>Xero: " not in page and re.search(r"<dt>Account</dt><dd>Demo Company[^<]*</dd>", page)


def test_the_other_accounting_system_is_offered_as_a_switch_not_a_first_connection(tmp_path):
    with api_demo(tmp_path) as (client, app, info):
        browser = page_client(app, info)
        page = browser.get("/connections").text
        other = page[page.index('id="backend-quickbooks"'):]
        other = other[:other.index("</section>")]
        assert "Only one accounting system is connected at a time: now Xero." in other
        switch = re.search(r'<a class="([^"]*)" href="/connect/quickbooks">([^<]*)</a>', other)
        assert switch and switch.group(2) == "Switch to QuickBooks Online…" and "primary" not in switch.group(1)
        german = browser.get("/connections?lang=de").text
        assert "Zu QuickBooks Online wechseln…" in german
