"""Fault-injection soak: at least 1,000 create operations through the real Xero and Pipedrive plugins against
their in-process sandboxes, with random 500s, timeouts, drops after commit, 429s, expired tokens, simulated
kills and restarts, duplicated/reordered/delayed/forged webhooks; then checks Xero = our records = operations
asked for, statuses, one reminder each, and that every failure was shown with its cause.

    .venv/bin/python bench/faults_soak.py [--operations 1000] [--seeds 1,2,3]

Exits non-zero if any run finds a duplicate, a lost operation, a wrong status, a missing or doubled reminder,
or a failure shown nowhere. The small seeded version runs in ``make test`` (tests/faults).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "faults"))

import faultkit  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=1000, help="operations per seed (default 1000)")
    parser.add_argument("--seeds", default="1", help="comma-separated seeds (default 1)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the write-back warnings are expected here, by the hundred
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    failed = False
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir:
            _, report = asyncio.run(faultkit.run_soak(seed, args.operations, Path(workdir)))
        f = report.findings
        print("\n".join(report.lines()))
        print(f"resent by clients after a refusal before their operation existed: {report.resent}; "
              f"wall time {time.perf_counter() - started:.1f} s")
        problems = {k: f[k] for k in ("orphans", "missing", "unasked", "status_mismatches", "reminder_problems",
                                      "invisible_failures") if f[k]}
        if f["duplicates"] or problems or report.forged_accepted or not (f["xero_invoices"] == f["records"] == report.operations - report.already_invoiced):
            failed = True
            print("PROBLEMS:", {k: v[:5] for k, v in problems.items()})
        print()
    print("result:", "FAILED" if failed else "ok: 0 duplicates, 0 lost")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
