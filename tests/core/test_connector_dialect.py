"""The connector kit's default dialect maps HTTP statuses to core's typed errors, so a plugin overrides only how
its service words an error (``message``): a server error is retried, a 429 waits its ``Retry-After``."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from connector_support import FakeRuntime

from invoicebridge.core import (AuthError, RateLimited, RemoteNotFound, RemoteValidationError, ServerError)
from invoicebridge.core.connector import Connector, Dialect, RetryPolicy
from invoicebridge.core.connector.connector import retry_after_seconds


def answer(status: int, **kwargs) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://svc.test/x"), **kwargs)


@pytest.mark.parametrize("status, error", [(401, AuthError), (403, AuthError), (404, RemoteNotFound),
                                           (400, RemoteValidationError), (409, RemoteValidationError),
                                           (422, RemoteValidationError), (429, RateLimited), (500, ServerError),
                                           (503, ServerError)])
def test_statuses_become_typed_errors(status, error):
    found = Dialect().error_for(answer(status))
    assert type(found) is error and found.status == status and "answered" in found.message


def test_a_success_is_no_error_and_the_service_words_its_errors():
    class Worded(Dialect):
        backend = "svc"

        def message(self, response):
            return response.json()["why"]

    assert Dialect().error_for(answer(201)) is None
    found = Worded().error_for(answer(422, json={"why": "no such account"}))
    assert isinstance(found, RemoteValidationError) and found.message == "no such account"
    assert found.context["messages"] == ["no such account"] and found.backend == "svc"


def test_retry_after_is_read_in_seconds():
    assert Dialect().error_for(answer(429, headers={"Retry-After": "7"})).retry_after == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:00 GMT") is None and retry_after_seconds(None) is None


def test_the_default_dialect_lets_the_kit_retry_a_server_error():
    answers = [httpx.Response(503), httpx.Response(200, json={"ok": True})]
    rt = FakeRuntime(lambda request: answers.pop(0))
    connector = Connector(rt, Dialect(), retry=RetryPolicy(jitter=lambda d: 0.0))
    assert asyncio.run(connector.request("GET", "https://svc.test/x")).json() == {"ok": True}
    assert rt.sleeps == [0.5] and answers == []
