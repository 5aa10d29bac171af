"""Where the web app's time goes under load: py-spy samples the demo server while wrk loads one target.

Prints the functions with the most samples (own time and with callees), from ``py-spy record --format raw``
(collapsed stacks). Used to find what to remove for benchmark 4; not part of ``make bench``'s figures.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import tempfile
from pathlib import Path

from _common import ROOT
from _wrk import demo_info, free_port, serve, wrk
from web_load import prepare


def top(raw: Path, n: int) -> tuple[list, list, int]:
    own: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        c = int(count)
        samples += c
        frames = stack.split(";")
        own[frames[-1]] += c
        for f in set(frames):
            total[f] += c
    return own.most_common(n), total.most_common(n), samples


def main(target: str, seconds: float, n: int, out: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "INVOICEBRIDGE_DATA_DIR": tmp}
        app = [str(ROOT / ".venv/bin/invoicebridge"), "demo", "--port", str(port)]
        with serve(app, env=env, ready=f"http://127.0.0.1:{port}/health") as proc:
            base = f"http://127.0.0.1:{port}"
            _deal, targets = prepare(base, demo_info(Path(tmp)))
            url, headers = targets[target]
            wrk(url, seconds=2, headers=headers)
            raw = out or Path(tmp) / "profile.txt"
            spy = subprocess.Popen([str(ROOT / ".venv/bin/py-spy"), "record", "--pid", str(proc.pid), "--format", "raw",
                                    "--rate", "200", "--duration", f"{int(seconds)}", "--output", str(raw), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            figures = wrk(url, seconds=seconds, headers=headers)
            spy.wait(timeout=seconds + 30)
            own, total, samples = top(raw, n)
    print(f"# py-spy, {target} under wrk: {figures['rps']:.0f} req/s, p99 {figures['p99']:.1f} ms; {samples} samples")
    print("## own time")
    for frame, c in own:
        print(f"{c / samples:6.1%}  {frame}")
    print("## with callees")
    for frame, c in total:
        print(f"{c / samples:6.1%}  {frame}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("deal", "dashboard", "api"))
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    main(args.target, args.seconds, args.top, args.raw)
