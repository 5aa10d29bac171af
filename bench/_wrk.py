"""Shared by the web benchmarks: drive ``wrk`` (Debian's C load generator; ``.ci/install-wrk`` installs it) and
parse what it prints, start servers in their own processes, sign in to the demo.

``wrk --latency`` prints requests a second and the latency distribution (50 %, 75 %, 90 %, 99 %); answers that
are not 2xx/3xx and socket errors are counted as errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from _common import ROOT

WRK = shutil.which("wrk") or "/usr/bin/wrk"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {seconds:.0f} s")


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"cannot read wrk's latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(output: str) -> dict:
    """Requests a second, p50/p75/p90/p99 in ms, requests and errors from ``wrk --latency``'s output."""
    out: dict = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                 "requests": int(re.search(r"(\d+) requests in", output).group(1))}
    for pct in ("50", "75", "90", "99"):
        out[f"p{pct}"] = _ms(re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M).group(1))
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    out["errors"] = errors
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, *, connections: int = 50, seconds: float = 10, threads: int = 1, headers: dict | None = None,
        pid: int | None = None) -> dict:
    """One wrk run against ``url``; its parsed figures (and the command line, without header values). With the
    server's ``pid``, also the server's CPU milliseconds per request: a figure the other load on a shared machine
    disturbs much less than requests a second."""
    before = cpu_seconds(pid) if pid else 0.0
    args = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    done = subprocess.run([*args, url], capture_output=True, text=True, check=True)
    out = parse(done.stdout)
    if pid:
        out["cpu_ms"] = (cpu_seconds(pid) - before) * 1000 / max(1, out["requests"])
    out["command"] = " ".join(a for a in [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", url])
    return out


@contextmanager
def serve(args: list[str], *, env: dict | None = None, ready: str) -> Iterator[subprocess.Popen]:
    """Run a server process until the block ends; ``ready`` is a URL that answers once it is up."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(ready)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def bare_server(port: int, loop: str = "auto", http: str = "auto"):
    return serve([sys.executable, str(ROOT / "bench/_bare_app.py"), str(port), loop, http], ready=f"http://127.0.0.1:{port}/bare")


def sign_in(base: str, password: str) -> str:
    """The admin's session cookie (``name=value``) after signing in through the login form."""
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        done = client.post("/login", data={"password": password, "csrf_token": token})
        assert done.status_code in (200, 303), done.status_code
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def demo_info(data_dir: Path) -> dict:
    return json.loads((data_dir / "demo.json").read_text())
