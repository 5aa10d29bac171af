"""Shared by the benchmark scripts: the test stack (tests/helpers/bulk_stack.py) and how results are printed."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))


def command() -> str:
    """The command that produced these figures, as typed from the repository root."""
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def machine() -> str:
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    return f"nproc {os.cpu_count()}, python {platform.python_version()}\n{free}"


def report(title: str, rows: list[tuple[str, object]]) -> None:
    print(f"# {title}")
    for name, value in rows:
        print(f"{name}: {value}")
    print(f"command: {command()}")
