"""The emulator kit's LossyTransport: the sandbox handles the request in full, then the client loses the answer."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invoicebridge.sandbox_kit import LossyTransport

pytestmark = pytest.mark.anyio


def counting_app() -> tuple[Starlette, list[str]]:
    done: list[str] = []

    async def write(request: Request) -> JSONResponse:
        done.append(request.method)
        return JSONResponse({"n": len(done)})

    return Starlette(routes=[Route("/things", write, methods=["GET", "POST"])]), done


async def test_the_next_matching_answer_is_lost_after_the_work_is_done():
    app, done = counting_app()
    transport = LossyTransport(app)
    transport.drop_next_answer("POST", "/things")
    async with httpx.AsyncClient(transport=transport, base_url="https://sandbox.test") as client:
        assert (await client.get("/things")).json() == {"n": 1}  # a GET does not match: answered
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/things")
        assert done == ["GET", "POST"]  # the sandbox did the work whose answer was lost
        assert (await client.post("/things")).json() == {"n": 3}  # the switch turned itself off
    assert transport.dropped == [("POST", "/things")] and transport.armed == []


async def test_several_drops_and_any_request():
    app, done = counting_app()
    transport = LossyTransport(app)
    transport.drop_next_answer(times=2)
    async with httpx.AsyncClient(transport=transport, base_url="https://sandbox.test") as client:
        for _ in range(2):
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/things")
        assert (await client.get("/things")).status_code == 200
    assert len(done) == 3 and len(transport.dropped) == 2
