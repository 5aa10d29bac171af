"""Benchmark: a real ``invoicebridge serve`` killed with SIGKILL in the middle of a bulk run, started again on the
same data folder: how long until it answers, and how long the left-over work then takes in the background.

The Xero and Pipedrive sandboxes live in this process (the demo app on loopback), so they outlive the kill;
``serve`` reaches them over loopback in real time (see tests/faults/restartkit.py). The kill comes once the data
folder records ``--kill-after`` invoices (0: as soon as Xero holds any, before the reply is recorded). Exits
non-zero on a duplicate or a lost invoice, or when the first answer takes 5 s or more.

    .venv/bin/python bench/restart.py [--deals 600] [--kill-after 250]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from _common import ROOT, report

sys.path.insert(0, str(ROOT / "tests" / "faults"))

from restartkit import kill_mid_bulk, scene, start_bulk, stop, wait_recovered  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=600, help="won deals in the bulk run (default 600)")
    parser.add_argument("--kill-after", type=int, default=250, help="records in the data folder before the kill (default 250)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, scene(Path(tmp), args.deals) as s:
        first = s.start_serve()
        try:
            cold = start_bulk(s, first)
            kill_mid_bulk(s, first, after_invoices=1, after_records=min(args.kill_after, args.deals))
        finally:
            stop(first)
        left = s.left_over()
        second = s.start_serve()
        try:
            answered = s.first_answer(second)
            recovered = wait_recovered(s, second, timeout=3600)
        finally:
            stop(second)
        f = s.findings()
    report("restart after kill -9 mid-bulk", [
        ("deals in the bulk run", args.deals),
        ("left by the kill", f"{left['operations']} create operations unfinished, {left['writebacks']} CRM write-backs pending, "
                             f"{left['records']} invoices recorded"),
        ("cold start (first answer, nothing left over)", f"{cold:.2f} s"),
        ("first answer after the restart", f"{answered:.2f} s"),
        ("left-over work finished in the background after", f"{recovered:.1f} s"),
        ("Xero invoices / our records", f"{f['xero_invoices']} / {f['records']}"),
        ("duplicates / lost / orphans", f"{f['duplicates']} / {len(f['missing'])} / {len(f['orphans'])}"),
        ("invoices without exactly one reminder", len(f["reminders_not_one"])),
    ])
    ok = (f["duplicates"] == 0 and not f["missing"] and not f["orphans"] and not f["reminders_not_one"]
          and f["xero_invoices"] == f["records"] == args.deals and answered < 5.0)
    print("result:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
