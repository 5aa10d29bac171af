"""Finding a deal from the dashboard (or the header): by title, by organization name, by number, or by pasting
its link from the CRM; every exchange with the sandbox is spec-validated."""

import re

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


@pytest.fixture
def client(tmp_path, validate_demo):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    validate_demo(app)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        c.post("/login", data={"password": info["admin_password"], "csrf_token": token})
        yield c


def rows(page: str) -> list[list[str]]:
    body = re.search(r'<table class="results".*?<tbody>(.*?)</tbody>', page, re.S)
    if not body:
        return []
    return [[re.sub(r"<[^>]+>|\s+", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def test_the_dashboard_has_a_search_box(client):
    page = client.get("/").text
    assert re.search(r'<form method="get" action="/search"[^>]*>', page) and 'name="q"' in page


def test_search_by_title_lists_the_deals_with_organization_value_and_status(client):
    page = client.get("/search", params={"q": "acme"})
    assert page.status_code == 200
    found = rows(page.text)
    assert [r[0] for r in found] == ["Acme – annual licence and onboarding", "Acme – support renewal"]
    assert found[0][1] == "Acme Ltd" and found[0][2] == "£5,400.60" and found[0][3] == "Won"
    assert 'href="/deals/1"' in page.text and 'href="/deals/4"' in page.text


def test_search_by_organization_name_finds_its_deals(client):
    found = rows(client.get("/search", params={"q": "Corporation"}).text)
    assert [(r[0], r[1]) for r in found] == [("Globex – hardware rollout", "Globex Corporation")]
    assert found[0][2] == "$7,250.00"


def test_money_follows_the_language(client):
    found = rows(client.get("/search", params={"q": "Corporation", "lang": "de"}).text)
    assert found[0][2] == "7.250,00 $"  # (spaces normalised by rows())


def test_no_match_says_so(client):
    page = client.get("/search", params={"q": "no such deal anywhere"})
    assert page.status_code == 200 and not rows(page.text)
    assert re.search(r'class="search-empty"[^>]*>[^<]*no such deal anywhere', page.text)


def test_a_pasted_deal_link_or_number_opens_the_deal(client):
    for q in ("https://acme-sandbox.pipedrive.com/deal/5", "  acme-sandbox.pipedrive.com/deal/5 ", "5"):
        answer = client.get("/search", params={"q": q}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/deals/5", q


@pytest.mark.parametrize("link, says", [
    ("https://globex.pipedrive.com/deal/5", "globex.pipedrive.com"),
    ("https://acme-sandbox.pipedrive.com/deal/five", "not a deal number"),
    ("https://example.com/deal/5", "not a link to a deal in Pipedrive"),
])
def test_a_link_to_elsewhere_or_with_a_bad_id_says_what_is_wrong(client, link, says):
    page = client.get("/search", params={"q": link}, follow_redirects=False)
    assert page.status_code == 422
    message = re.search(r'class="[^"]*search-problem[^"]*"[^>]*>(.*?)</', page.text, re.S).group(1)
    assert says in message.replace("&#39;", "'")
