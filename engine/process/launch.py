"""Starting the worker, alone or as N processes under torchrun; the checks that need no process.

`--nproc-per-node N` runs N copies of `engine.process.worker_process` under PyTorch's own launcher
(`python -m torch.distributed.run --standalone`), which gives each its RANK and WORLD_SIZE and tears
the group down when one dies; engine/training/distributed.py takes it from there. Several nodes are
torchrun's business too (its rendezvous flags; see the README). Torch is never imported here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

from engine.contract.errors import ConfigError

# How often torchrun's agent looks at its workers (its default since torch 2.3; 5 s before).
MONITOR_INTERVAL_S = 0.1


def worker_command(args: list[str], nproc: int = 1) -> list[str]:
    """The command line that starts a worker, or N of them under torchrun."""
    if nproc <= 1:
        return [sys.executable, "-m", "engine.process.worker_process", *args]
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", str(nproc), "--monitor-interval", str(MONITOR_INTERVAL_S),
        "-m", "engine.process.worker_process", *args,
    ]  # fmt: skip


def worker_env(env: MutableMapping[str, str], nproc: int) -> None:
    """Share the cores between N ranks (torchrun would set 1 thread each, with a warning)."""
    if nproc > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))


def is_torchrun(command: list[str]) -> bool:
    """Whether a command from worker_command starts torchrun's agent."""
    return "torch.distributed.run" in command


def check_nproc(nproc: int, device: str, batch_size: int) -> None:
    """Refuse a process count that cannot work, in one line, before any process starts."""
    if nproc < 1:
        raise ConfigError(f"--nproc-per-node {nproc} must be at least 1")
    if nproc == 1:
        return
    if batch_size % nproc:
        raise ConfigError(
            f"batch_size {batch_size} does not split over {nproc} processes; each takes "
            f"batch_size / {nproc} rows of the global batch, so give a multiple of {nproc}"
        )
    if device == "mps":
        raise ConfigError("several processes need CUDA GPUs or the CPU: MPS has no DDP backend")
    gpus = count_gpus()
    if gpus is not None and (device == "cuda" or (device == "auto" and gpus)) and nproc > gpus:
        raise ConfigError(
            f"--nproc-per-node {nproc} asks for one GPU each, but {gpus} "
            f"{'is' if gpus == 1 else 'are'} visible; give at most {gpus}, or --device cpu"
        )
    cores = count_cores()
    if (device == "cpu" or (device == "auto" and gpus == 0)) and nproc > cores:
        # Each rank is a whole Python process with torch loaded: more of them than cores only
        # slows every one down, and a few hundred would fill the memory (torchrun's own `cpu`
        # choice is one per core, too).
        raise ConfigError(
            f"--nproc-per-node {nproc} on the CPU takes a core each, but this machine gives "
            f"{cores}; give at most {cores}"
        )


def count_gpus() -> int | None:
    """NVIDIA GPUs this process may use, without importing torch (that takes seconds); None where
    the driver does not say (no /proc/driver/nvidia): the worker checks again with torch."""
    try:
        present = len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return None if Path("/proc/driver/nvidia").exists() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return present
    listed = 0
    for item in visible.split(","):
        if not item.strip() or item.strip().startswith("-"):
            break  # CUDA ignores everything from the first invalid entry on
        listed += 1
    return min(listed, present)


def count_cores() -> int:
    """The cores this process may run on (its affinity, which a container or taskset narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def under_torchrun() -> bool:
    """This process is one rank of several started by torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def agent_pid() -> int:
    """The process that stands for the run: torchrun's agent for a rank, else this process."""
    return os.getppid() if under_torchrun() else os.getpid()
