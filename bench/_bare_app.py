"""A bare Starlette endpoint, served exactly like the app (uvicorn, one process, loopback): the baseline of
bench/web_load.py."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"deal_id": "1", "invoices": []})


app = Starlette(routes=[Route("/bare", hello)])

if __name__ == "__main__" and len(sys.argv) > 1:  # `make bench` runs every script; this one only serves
    # argv: port [loop http], the same uvicorn settings the app is measured under
    loop, http = [*sys.argv[2:4], "auto", "auto"][:2]
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", loop=loop, http=http)
