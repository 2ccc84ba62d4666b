"""Who holds a lease, and whether that process still runs.

A lease taken in kv outlives a process killed outright (SIGKILL, OOM killer, a lost
container): nothing gives it back, and its TTL keeps every later run out. A lease that names
its holder with :func:`this_process` lets the next run on the same host see that the holder is
gone (:func:`holder_gone`) and take the lease over at once.

A holder is ``<host>:<pid namespace>:<pid>:<start>``. The PID namespace tells two containers
that share a host name apart (their process ids are not comparable). ``start`` is the boot id
and the process's start time in clock ticks since boot (``/proc/<pid>/stat``), so a later
process of this boot that got the same pid is not taken for the holder; it is ``-`` where
``/proc`` is missing, and then only the pid is checked. Only a holder of this host, PID
namespace and boot is ever judged gone: any other is left to its lease's end, since a process
on another host cannot be seen from here (and the initial PID namespace's inode is the same on
every Linux machine, so a holder of another boot may be another machine of the same name).
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

UNKNOWN_START = "-"


def _where() -> str:
    """This host and PID namespace."""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = "-"
    return f"{socket.gethostname()}:{namespace}"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
    except OSError:
        return "-"


def _proc_stat(pid: int) -> tuple[str, str]:
    """The state letter and start time (clock ticks since boot) of ``pid``.

    Raises:
        FileNotFoundError: no such process (or no ``/proc``).
        OSError: ``/proc/<pid>/stat`` cannot be read.
    """
    text = Path(f"/proc/{pid}/stat").read_text()
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
    after = text[text.rindex(")") + 2 :].split()
    return after[0], after[19]


def _start_token(pid: int) -> str:
    try:
        _state, started = _proc_stat(pid)
    except (OSError, ValueError, IndexError):
        return UNKNOWN_START
    return f"{_boot_id()}.{started}"


def this_process() -> str:
    """The holder name of this process: ``<host>:<pid namespace>:<pid>:<start>``."""
    return _holder_of(os.getpid())


@functools.cache
def _holder_of(pid: int) -> str:
    # keyed by pid: a forked child is another holder
    return f"{_where()}:{pid}:{_start_token(pid)}"


def describe(holder: str) -> str:
    """``holder`` for people: ``process 4242 on host web-1``."""
    where, _, _start = holder.rpartition(":")
    where, _, pid = where.rpartition(":")
    host = where.rpartition(":")[0]
    if not (pid.isdigit() and host):
        return holder
    return f"process {pid} on host {host}"


def holder_gone(holder: str) -> bool:
    """Whether ``holder`` (from :func:`this_process`) is a process of this host and PID
    namespace that no longer runs: no such pid, a zombie, or a later process with its pid.

    ``False`` for a holder of another host or namespace, a running one, or a name this module
    did not make: those keep their lease until it runs out.
    """
    where, _, rest = holder.rpartition(":")
    where, _, pid = where.rpartition(":")
    if where != _where() or not pid.isdigit() or not rest:
        return False
    boot = rest.partition(".")[0]
    if rest != UNKNOWN_START and boot != _boot_id():
        # Another boot, or another machine of the same name whose PID namespace has the
        # same inode (the initial one's is a constant): cannot tell, leave it to its lease.
        return False
    if not Path("/proc/self/stat").exists():
        return _pid_gone(int(pid))
    try:
        state, started = _proc_stat(int(pid))
    except FileNotFoundError:
        return True
    except (OSError, ValueError, IndexError):
        return False  # cannot tell: leave it to its lease
    if state in ("Z", "X"):  # killed, not yet reaped by its parent: it will never run again
        return True
    return rest != UNKNOWN_START and rest != f"{_boot_id()}.{started}"


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, as another user's
        return False
    return False
