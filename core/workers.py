"""Which process holds an operation, and whether that process is gone.

A create operation is claimed with a lease (``LEASE_SECONDS``, five minutes) so two live workers never send it
twice. After a crash the lease would keep the operation waiting for minutes although its holder is dead. So a
claim also records the holder's identity (host, PID namespace, PID and the process's start time), and
:func:`is_dead` tells, on the same host and in the same PID namespace, whether that exact process is gone. When
in doubt (another host or container, no ``/proc``, the same process) the answer is "alive" and the lease is
waited out as before; a taken-over operation is looked for at the backend before it is created again.
"""

from __future__ import annotations

import functools
import os
import socket


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); None if it is gone,
    "" if this system has no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else ""
    except OSError:
        return ""
    return stat[stat.rfind(")") + 2:].split()[19]  # fields after the command name, which may hold spaces


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@functools.cache
def this_process() -> str:
    pid = os.getpid()
    return "|".join([socket.gethostname(), _pid_namespace(), str(pid), _start_time(pid) or ""])


def is_dead(owner: str) -> bool:
    """True only when ``owner`` (a :func:`this_process` value) is certainly no longer running."""
    try:
        host, namespace, pid_text, started = owner.split("|")
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or namespace != _pid_namespace() or owner == this_process():
        return False
    now_started = _start_time(pid)
    if now_started is None:
        return True  # no such process
    if now_started and started:
        return now_started != started  # the PID was reused by a later process
    try:  # no /proc: only a missing process is certain
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
