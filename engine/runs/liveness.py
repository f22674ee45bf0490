"""Whether a process runs, and whether a run's worker does: one answer for the runs listing, the
client, the socket cleaner and torchrun's ranks.

A worker publishes its pid in the run's worker.json (engine/process/channel.py writes it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.runs.files import INFO_FILE


def pid_running(pid: int, *, ours: bool = False) -> bool:
    """Whether process `pid` runs. A zombie (dead, not yet reaped by its parent) does not.

    With `ours`, only a process of this user counts: a worker is always its run's owner's, so a
    pid that another user's program now holds is a reused pid, not the worker.
    """
    try:
        with open(f"/proc/{pid}/stat") as file:
            if file.read().rpartition(")")[2].split()[0] in ("Z", "X"):
                return False
        return not ours or os.stat(f"/proc/{pid}").st_uid == os.getuid()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return not ours  # it runs, as another user
        return True


def worker_info(run_dir: Path) -> dict | None:
    """What the run's worker published (pid, socket address, detached), or None."""
    try:
        info = json.loads((run_dir / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def worker_alive(run_dir: Path) -> bool:
    """Whether a worker serves this run now (a worker.json left by a killed one does not count)."""
    info = worker_info(run_dir)
    try:
        return info is not None and pid_running(int(info["pid"]), ours=True)
    except (KeyError, TypeError, ValueError):
        return False
