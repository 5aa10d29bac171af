"""A data folder only the app's user may read."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

log = logging.getLogger("invoicebridge.store")

# Files of a data folder that only the app's user may read: a database there also has -wal and -shm files.
PRIVATE_FILES = ("secret.key", "demo.json")


def make_private_dir(folder: Path) -> None:
    """Create ``folder`` (and its parents) 0700; an existing one readable by others is tightened (and logged)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(folder, 0o700)


def make_private_file(path: Path) -> None:
    """Make an existing file 0600 (logged when it was readable by others); a missing one is left missing."""
    _tighten(path, 0o600)


def _tighten(path: Path, wanted: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & 0o077:
        path.chmod(wanted)
        log.warning("tightened the permissions of %s from %o to %o (only this app's user may read its data)", path, current, wanted)

