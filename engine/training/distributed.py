"""Training on several processes under torchrun: DistributedDataParallel over NCCL or gloo.

Rank 0 is the ordinary worker: it alone owns the run directory, the events, the checkpoints and
the clients' socket, and it decides. Before each training step it broadcasts a small control
tensor (step, wait or exit), so every rank takes the same decision at the same step; the other
ranks only follow, train and stay silent. While rank 0 is paused or stopped it broadcasts "wait"
about once a second; during an eval or a request the others simply wait in that collective.

Each rank draws the same global batch of batch_size rows (one generator, one seed) and trains on its
own batch_size / N of them; DDP averages the gradients and the logged loss is averaged too, so a
step is the step one process takes with that batch, up to floating-point rounding.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from engine.contract.errors import ConfigError, EngineError
from engine.runs.liveness import pid_running

if TYPE_CHECKING:
    from engine.training.trainer import Trainer

WAIT, STEP, EXIT = 0, 1, 2
HEARTBEAT_S = 1.0  # how often a rank 0 that is not training tells the others to keep waiting
PEER_CHECK_S = 0.1  # how often rank 0 looks at the other ranks on its node while training
# How long a rank waits in a collective: it must outlast rank 0's longest silence (an eval or a
# checkpoint of a large model), as a paused rank 0 keeps the others waiting with heartbeats.
# A rank that dies is noticed by other means: its peers' sockets close, and rank 0 watches pids.
TIMEOUT = timedelta(minutes=30)
# How long rank 0's watchdog gives the main thread to notice a dead rank before it ends the run
# itself: an NCCL collective waiting for a dead peer blocks (gloo's fails at once).
WATCH_GRACE_S = 1.0
PEER_EXIT_S = 5.0  # how long a failed collective waits to see which peer's process ended
_PR_SET_PDEATHSIG = 1


class RankFailed(EngineError):
    """Another rank of the run stopped."""


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over all ranks (gloo has no AVG, so a sum divided)."""
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()


class Group:
    """This process's place in the torchrun group, and the control protocol between ranks."""

    def __init__(self) -> None:
        self.rank = int(os.environ["RANK"])
        self.world = int(os.environ["WORLD_SIZE"])
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
        self.peers: dict[int, int] = {}  # rank -> pid, for the other ranks on this node
        self._control = torch.zeros(2, dtype=torch.long)  # (command, step), on the CPU
        self._control_group: dist.ProcessGroup | None = None
        self._last_sent = 0.0
        self._last_check = 0.0
        self._noticed = threading.Event()  # the main thread took the failure (or the end) in hand
        self._die_with_agent()

    def _die_with_agent(self) -> None:
        """SIGTERM this rank if torchrun's agent dies (SIGKILL gives it no chance to clean up)."""
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() == 1:  # the agent died before prctl took effect
                os.kill(os.getpid(), signal.SIGTERM)

    def pick_device(self) -> None:
        """One GPU per rank on this node, as cuda:LOCAL_RANK (the model is built on it)."""
        if torch.cuda.is_available():
            if self.local_rank >= torch.cuda.device_count():
                raise ConfigError(
                    f"rank {self.rank} needs GPU {self.local_rank}, but only "
                    f"{torch.cuda.device_count()} are visible; give fewer processes per node"
                )
            torch.cuda.set_device(self.local_rank)

    def connect(self, trainer: Trainer) -> None:
        """Join the process group, wrap the model in DDP and give the trainer its share."""
        if trainer.device.type not in ("cuda", "cpu"):
            raise ConfigError(f"several processes need CUDA GPUs or the CPU, not {trainer.device}")
        backend = "nccl" if trainer.device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=TIMEOUT)
        # The control tensor goes over gloo, on the CPU: over NCCL, a follower reading it would
        # wait for its GPU to finish every step queued before.
        if backend != "gloo":
            self._control_group = dist.new_group(backend="gloo", timeout=TIMEOUT)
        here = (socket.gethostname(), os.getpid())
        everyone: list[tuple[str, int] | None] = [None] * self.world
        dist.all_gather_object(everyone, here, group=self._control_group)
        self.peers = {
            rank: pid
            for rank, (host, pid) in enumerate(everyone)  # type: ignore[misc]
            if host == here[0] and rank != self.rank
        }
        device_ids = [self.local_rank] if backend == "nccl" else None
        trainer.distribute(
            self.rank,
            self.world,
            wrap=lambda model: DistributedDataParallel(model, device_ids=device_ids),
            mean_over_ranks=mean_over_ranks,
            before_step=self._announce if self.rank == 0 else None,
        )

    # -- rank 0 ---------------------------------------------------------------------------------

    def _send(self, command: int, step: int) -> None:
        self._control[0], self._control[1] = command, step
        dist.broadcast(self._control, src=0, group=self._control_group)
        self._last_sent = time.monotonic()

    def _announce(self, step: int) -> None:
        """Before each of rank 0's steps: notice a dead rank, tell the others to take `step`."""
        if time.monotonic() - self._last_check >= PEER_CHECK_S:
            self.check_peers()
        self._send(STEP, step)

    def heartbeat(self, step: int) -> None:
        """On an idle rank 0, each loop turn: notice a dead rank, keep the others waiting."""
        if time.monotonic() - self._last_check >= PEER_CHECK_S:
            self.check_peers()
        if time.monotonic() - self._last_sent >= HEARTBEAT_S:
            self._send(WAIT, step)

    def check_peers(self) -> None:
        """Raise RankFailed naming a rank on this node whose process is gone."""
        self._last_check = time.monotonic()
        dead = self._dead_peer()
        if dead is not None:
            raise RankFailed(dead)

    def _dead_peer(self) -> str | None:
        for rank, pid in self.peers.items():
            if not pid_running(pid):
                return f"rank {rank} of {self.world} (pid {pid}) died; training ended"
        return None

    def watch(self, fail: Callable[[str], None], grace_s: float = WATCH_GRACE_S) -> None:
        """Rank 0: a thread that calls `fail(reason)` if a rank dies and the main thread has not
        taken it in hand within grace_s (it is stuck in a collective that will never end)."""

        def run() -> None:
            while not self._noticed.wait(PEER_CHECK_S):
                dead = self._dead_peer()
                if dead is not None:
                    if not self._noticed.wait(grace_s):
                        fail(dead)
                    return

        threading.Thread(target=run, name="rank-watchdog", daemon=True).start()

    def explain(self, error: BaseException, fallback: Callable[[BaseException], str]) -> str:
        """A crash's one line: the rank that died, when a collective failed because of it."""
        self._noticed.set()
        if isinstance(error, RankFailed):
            return str(error)
        # A dead peer's sockets close a moment before its pid goes; on a loaded machine that
        # moment can stretch, so wait for it (at once when it did die, 5 s when nothing did).
        deadline = time.monotonic() + PEER_EXIT_S
        while time.monotonic() < deadline:
            try:
                self.check_peers()
            except RankFailed as failed:
                return str(failed)
            time.sleep(0.02)
        return fallback(error)

    def finish(self) -> None:
        """Tell the others to exit (rank 0, as the worker ends), then leave the group."""
        self._noticed.set()  # from here on, ranks that end are ending as they were told
        with contextlib.suppress(Exception):  # a dead peer must not hide why we are ending
            self._send(EXIT, 0)
        with contextlib.suppress(Exception):
            dist.destroy_process_group()

    # -- the other ranks ------------------------------------------------------------------------

    def follow(self, trainer: Trainer) -> int:
        """Take the steps rank 0 announces until it says exit (or goes); returns an exit code."""
        # Rank 0 answers torchrun's SIGTERM by checkpointing, then sends exit: wait for it.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            dist.broadcast(self._control, src=0, group=self._control_group)
            command, step = self._control.tolist()
            if command == EXIT:
                with contextlib.suppress(Exception):
                    dist.destroy_process_group()
                return 0
            if command == STEP:
                if step != trainer.step:  # rank 0 rewound past a non-finite step; all ranks did
                    trainer.rewind(step)
                trainer.follow_step()
