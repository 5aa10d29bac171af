"""Pages, messages and the API in German and English: chosen from Accept-Language, ?lang= (remembered in a
cookie) and the default language in settings; a switch on every page; numbers and money per locale."""

import re
from decimal import Decimal

from starlette.testclient import TestClient

from invoicebridge.adapters.app import _drain_background

DE = {"Accept-Language": "de-DE,de;q=0.9"}
GERMAN_MONEY = re.compile(r"\d{1,3}(?:\.\d{3})*,\d{2}\xa0(?:£|€)")


def csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def create_invoice(client, info, deal=None):
    deal = deal or info["suggested_deal"]
    made = client.post(f"/api/deals/{deal}/invoices", json={}, headers={"Authorization": f"Bearer {info['api_key']}"})
    assert made.status_code == 201, made.text
    return made.json()


def test_pages_render_in_german_when_the_browser_asks_for_it(demo):
    client, app, info = demo
    invoice = create_invoice(client, info)
    dashboard = client.get("/", headers=DE)
    assert dashboard.status_code == 200 and '<html lang="de">' in dashboard.text
    assert "Übersicht" in dashboard.text and "Neueste Rechnungen" in dashboard.text and "Recent invoices" not in dashboard.text
    assert dashboard.headers["vary"].startswith("Accept-Language")
    deal = client.get(f"/deals/{invoice['deal_id']}", headers=DE)
    assert "Rechnung erstellen" in deal.text and "Verlauf" in deal.text
    assert 'data-status="DRAFT">Entwurf</span>' in deal.text
    assert GERMAN_MONEY.search(deal.text), "amounts are shown the German way (5.400,60 £)"
    total = Decimal(invoice["total"])
    german_total = f"{total:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    assert f"{german_total}\xa0£" in deal.text
    assert f"Rechnung {invoice['number']} in Xero erstellt (Status „Entwurf“)" in deal.text  # the timeline, stored in English
    assert re.search(r'<time datetime="[^"]+">\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}:\d{2}</time>', deal.text)
    english = client.get(f"/deals/{invoice['deal_id']}")
    assert 'data-status="DRAFT">Draft</span>' in english.text and f"£{total:,.2f}" in english.text


def test_lang_parameter_switches_and_the_cookie_remembers_it(demo):
    client, _, _ = demo
    chosen = client.get("/settings?lang=de")
    assert "Einstellungen" in chosen.text and "lang=de" in chosen.headers["set-cookie"]
    later = client.get("/bulk", headers={"Accept-Language": "en"})  # the choice wins over the browser's wish
    assert "Sammelrechnungen" in later.text and "Bulk invoicing" not in later.text
    back = client.get("/bulk?lang=en")
    assert "Bulk invoicing" in back.text and client.get("/", headers=DE).text.count("Recent invoices") == 1


def test_every_page_has_a_language_switch_to_the_same_page(demo):
    client, app, info = demo
    invoice = create_invoice(client, info)
    pages = ["/", "/connections", "/bulk", "/settings", f"/deals/{invoice['deal_id']}", f"/deals/{invoice['deal_id']}/invoices/new",
             f"/invoices/{invoice['id']}/share" if invoice["status"] != "DRAFT" else "/deals/nope-404", "/nowhere"]
    for path in pages:
        page = client.get(path, headers=DE)
        switch = re.search(r'<nav class="languages" aria-label="Sprache">(.*?)</nav>', page.text, re.S)
        assert switch, f"no language switch on {path}"
        here = path.split("?")[0]
        assert f'href="{here}?lang=en" hreflang="en" lang="en">English</a>' in switch.group(1), path
        assert f'href="{here}?lang=de" hreflang="de" lang="de" aria-current="true">Deutsch</a>' in switch.group(1), path
    anonymous = TestClient(app, base_url="http://127.0.0.1:8000")
    login = anonymous.get("/login?next=/settings", headers=DE)
    assert "Anmelden" in login.text and 'href="/login?next=%2Fsettings&amp;lang=en"' in login.text


def test_the_default_language_in_settings_applies_when_the_browser_asks_for_nothing_we_speak(demo):
    client, app, _ = demo
    settings = client.get("/settings")
    assert 'name="language"' in settings.text
    form = {k: v for k, v in re.findall(r'<select name="(\w+)"[^>]*>.*?<option value="([^"]*)"[^>]*selected', settings.text, re.S)}
    form.update(csrf_token=csrf(settings), due_days="14", reminder_due_days="3", language="de", reference_template="Deal {deal.id}")
    saved = client.post("/settings", data=form, follow_redirects=True)
    assert "Einstellungen gespeichert." in saved.text, saved.text[:500]
    assert app.state.runtime.store.get_settings()["language"] == "de"
    assert "Übersicht" in client.get("/").text  # no Accept-Language at all
    assert "Übersicht" in client.get("/", headers={"Accept-Language": "fr-FR,it;q=0.5"}).text
    assert "Dashboard</h1>" in client.get("/", headers={"Accept-Language": "en-GB"}).text


def test_the_crm_reminder_and_notes_follow_the_settings_language(demo):
    client, app, info = demo
    app.state.runtime.store.update_settings({"language": "de"})
    invoice = create_invoice(client, info)  # asked for in English (the API client sends no language)
    pd = app.state.sandboxes["pipedrive"][1].state.sandbox
    # a draft gets its note; the reminder comes with an invoice that can be sent
    sendable = client.post(f"/api/deals/{invoice['deal_id']}/invoices", json={"status": "AWAITING_PAYMENT", "allow_another": True},
                           headers={"Authorization": f"Bearer {info['api_key']}"}).json()
    subjects = [a["subject"] for a in pd.activities.values() if str(a.get("deal_id")) == invoice["deal_id"]]
    assert subjects == [f"Rechnung {sendable['number']} an {sendable['contact_name']} senden"]
    notes = [n["content"] for n in pd.notes.values() if str(n.get("deal_id")) == invoice["deal_id"]]
    assert any(f"Rechnung {invoice['number']} erstellt (Entwurf), Gesamtbetrag " in n for n in notes), notes
    assert any(GERMAN_MONEY.search(n) for n in notes)


def test_api_messages_follow_accept_language_and_machine_fields_stay(demo):
    client, _, info = demo
    auth = {"Authorization": f"Bearer {info['api_key']}"}
    german = client.get("/api/invoices/abc", headers={**auth, **DE})
    english = client.get("/api/invoices/abc", headers=auth)
    assert german.status_code == english.status_code == 404
    assert german.json()["error"] == english.json()["error"] == "NotFound"
    assert "gibt es hier nicht" in german.json()["message"] and "does not exist here" in english.json()["message"]
    unmapped = client.post("/api/deals/7/preview", json={}, headers={**auth, **DE})
    if unmapped.status_code == 422:
        assert unmapped.json()["field"] in ("to", "line_items")


def test_the_create_form_reads_numbers_in_german_and_names_the_field_it_cannot_read(demo):
    client, _, info = demo
    deal = info["suggested_deal"]
    form_page = client.get(f"/deals/{deal}/invoices/new?lang=de")
    assert "Positionen" in form_page.text and "Als Entwurf speichern" in form_page.text
    fields = dict(re.findall(r'<input name="((?:line-0|customer)_?-?[a-z_]+)"(?: type="\w+")? value="([^"]*)"', form_page.text))
    assert fields.get("customer_name") and "line-0-quantity" in fields, fields
    data = {"csrf_token": csrf(form_page), "nonce": "n-de-1", "action": "preview", **fields,
            "line-0-quantity": "1,5", "line-0-description": fields.get("line-0-description") or "Beratung"}
    read = client.post(f"/deals/{deal}/invoices", data=data)
    assert read.status_code == 200, re.findall(r"<li>(.*?)</li>", read.text)
    assert 'name="line-0-quantity" value="1,5"' in read.text
    refused = client.post(f"/deals/{deal}/invoices", data=dict(data, **{"line-0-quantity": "1.5"}))
    assert refused.status_code == 422
    assert "Zeile 1, Menge: „1.5“ ist keine Zahl" in refused.text


def test_bulk_run_page_shows_counts_and_totals_per_locale(demo):
    client, app, info = demo
    page = client.get("/bulk?lang=de")
    started = client.post("/bulk", data={"csrf_token": csrf(page), "deal_ids": info["suggested_deal"], "dry_run": "on"},
                          follow_redirects=False)
    assert started.status_code == 303
    client.portal.call(_drain_background, app)
    for _ in range(50):  # the run is a background task of the app; each page view lets it go on
        run = client.get(started.headers["location"])
        if "abgeschlossen." in run.text:
            break
        client.portal.call(lambda: __import__("asyncio").sleep(0))
    assert "1 von 1 Deals" in run.text and "Probelauf" in run.text
    assert GERMAN_MONEY.search(run.text)
    assert 'data-template="{done} von {total} Deals"' in run.text


def test_no_english_text_of_ours_is_left_on_a_german_page(demo):
    """Every page the demo shows, in German: none of our English texts (those the catalogue translates
    differently) appears in what a reader sees."""
    import html

    from catalogues import domains

    client, app, info = demo
    # a German-speaking company: what is written into the CRM (the reminder listed on the CRM console) is German too
    app.state.runtime.store.update_settings({"language": "de"})
    invoice = create_invoice(client, info)
    english = set()
    for m in (m for domain in domains() for m in domain.catalogue("de")):  # core's texts and the plugins'
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for text, translated in zip(ids, strings, strict=True):
            for part in re.split(r"%\(\w+\)[sdr]|%%|<[^>]+>", text or ""):
                part = part.strip(" .,:;()–—-“”'\"…")
                if len(part) >= 12 and part not in translated and " " in part:
                    english.add(part)
    deal = invoice["deal_id"]
    pages = ["/", "/connections", "/bulk", "/settings", f"/deals/{deal}", f"/deals/{deal}/invoices/new", "/search?q=acme",
             "/nowhere", "/sandbox/xero/", "/sandbox/pipedrive/"]
    for path in pages:
        page = client.get(path, headers=DE)
        body = re.sub(r"<(script|style)\b.*?</\1>", " ", page.text, flags=re.S)
        visible = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r'(?:title|placeholder|aria-label|data-confirm)="([^"]*)"', r"> \1 <", body)))
        visible = re.sub(r"\s+", " ", visible)
        left = sorted(p for p in english if p in visible)
        assert not left, f"{path} shows English: {left}"
