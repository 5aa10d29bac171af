"""The app's own CPU per request, without a server: the demo app called straight through ASGI (a signed-in page
with its session cookie, or the API with its key), each answer kept as it is under load. This separates what the
app costs from what uvicorn and its HTTP parser cost in ``bench/web_load.py``'s figures.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from _common import machine, report
from starlette.testclient import TestClient

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


def main(paths: list[str], calls: int, repeats: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        app, info = build_demo(AppConfig(data_dir=Path(tmp), port=8000, sync_interval=0))
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
            client.post("/login", data={"password": info["admin_password"], "csrf_token": token})
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            for path in paths:
                auth = [(b"authorization", f"Bearer {info['api_key']}".encode())] if path.startswith("/api/") else \
                    [(b"cookie", cookie.encode())]
                scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                         "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                         "root_path": "", "headers": [(b"host", b"127.0.0.1:8000"), *auth],
                         "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}

                async def once(scope=scope) -> tuple[int, int]:
                    sent: list[dict] = []

                    async def receive() -> dict:
                        return {"type": "http.request", "body": b"", "more_body": False}

                    async def send(message: dict) -> None:
                        sent.append(message)

                    await app(dict(scope), receive, send)
                    return sent[0]["status"], sum(len(m.get("body", b"")) for m in sent[1:])

                async def run(once=once) -> tuple[float, int, int]:
                    status, size = await once()
                    for _ in range(300):
                        await once()
                    best = float("inf")
                    for _ in range(repeats):
                        started = time.process_time()
                        for _ in range(calls):
                            await once()
                        best = min(best, (time.process_time() - started) / calls * 1000)
                    return best, status, size

                best, status, size = client.portal.call(run)
                rows.append((path, f"{best:.3f} CPU ms a request (best of {repeats} x {calls}), status {status}, "
                                   f"{size:,} bytes"))
    rows.append(("machine", machine()))
    report("The app's own CPU per request (ASGI, no server)", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["/deals/1", "/", "/api/deals/1/invoices"])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    main(args.paths, args.calls, args.repeats)
