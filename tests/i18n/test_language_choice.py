"""The language middleware's choice for one request, and the switch's links back to the same page."""

from types import SimpleNamespace

from starlette.datastructures import URL, Headers, QueryParams

from invoicebridge.adapters.i18n import language_links, request_language
from invoicebridge.core.i18n import use_locale


def scope(query: str = "", **headers: str) -> dict:
    return {"type": "http", "query_string": query.encode(),
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


def test_order_is_query_then_cookie_then_accept_language_then_default():
    assert request_language(scope("lang=de", cookie="lang=en", accept_language="en"), "en") == ("de", True)
    assert request_language(scope(cookie="lang=de", accept_language="en"), "en") == ("de", False)
    assert request_language(scope(accept_language="de-AT,en;q=0.5"), "en") == ("de", False)
    assert request_language(scope(), "de") == ("de", False)
    assert request_language(scope(accept_language="fr"), "de") == ("de", False)


def test_unknown_or_broken_choices_are_ignored_not_fatal():
    assert request_language(scope("lang=fr", accept_language="de"), "en") == ("de", False)
    assert request_language(scope("lang=", cookie="lang=xx"), "en") == ("en", False)
    assert request_language(scope(cookie='lang="de; broken=\x7f'), "en")[0] in ("de", "en")
    assert request_language(scope("lang=DE-ch"), "en") == ("de", True)


def request(method: str, url: str, **headers: str):
    parsed = URL(url)
    return SimpleNamespace(method=method, url=parsed, query_params=QueryParams(parsed.query), headers=Headers(headers))


def test_the_switch_links_to_the_same_page_keeping_its_query():
    with use_locale("de"):
        links = language_links(request("GET", "http://x/deals/7?tab=2&lang=de"))
    assert [(link["code"], link["href"], link["current"]) for link in links] == [("en", "/deals/7?tab=2&lang=en", False),
                                                                    ("de", "/deals/7?tab=2&lang=de", True)]
    after_post = language_links(request("POST", "http://x/deals/7/invoices", referer="http://x/deals/7/invoices/new", host="x"))
    assert after_post[0]["href"] == "/deals/7/invoices/new?lang=en"  # a form's answer switches back to the form's page
    elsewhere = language_links(request("POST", "http://x/settings", referer="https://evil.example/x", host="x"))
    assert elsewhere[0]["href"] == "/?lang=en"


def test_the_settings_default_is_read_only_when_the_request_names_no_language_we_speak():
    from invoicebridge.adapters.i18n import request_language

    asked = []

    def default():
        asked.append(1)
        return "de"

    def scope(**headers):
        return {"type": "http", "query_string": b"", "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}

    assert request_language(scope(cookie="lang=en"), default) == ("en", False)
    assert request_language(scope(accept_language="en-GB,en;q=0.9"), default) == ("en", False)
    assert asked == []
    assert request_language(scope(accept_language="fr"), default) == ("de", False)
    assert request_language(scope(), default) == ("de", False)
    assert asked == [1, 1]
