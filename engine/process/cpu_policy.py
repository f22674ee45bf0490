"""How the engine worker shares the CPU: its priority, torch's threads, OpenMP's idle spinning.

The worker used to run at nice 10 so that the UI came first. But niceness ranks a process against
every other one in its scheduling group, not only against the UI: any normal-priority program then
took nearly all the CPU, and a `seed` run that takes 9 s alone took more than 150 s beside another
torch training (issue 9). And idle OpenMP threads spun for about 3 ms (libgomp's default), so
whenever the cores were oversubscribed a thread burnt its time slice waiting for a sibling that
was not running.

Measured with `python -m bench.engine --only contention` on the project's 2-core VM, shared with
four other agents running their tests (1-minute load average 1-3 as runs began, part of it the
bench's own; at 7-9 every figure doubled or worse, and the old policy took 149 s for `seed` with
no competitor). Wall seconds of a headless CLI run, medians of 2-3 interleaved rounds; "loaded"
is beside a 2-thread torch training at normal priority. "spin N" is GOMP_SPINCOUNT=N (libgomp
counts about 100 spins a microsecond), "passive" OMP_WAIT_POLICY=PASSIVE:

    seed, 1500 steps (44k parameters)     quiet     loaded
    old: nice 10, 2 threads, spinning   6.5-7.2   >150 [1]
    nice 3, 2 threads, passive             17.2      35.8
    nice 0, 2 threads, passive             18.5      20.7
    nice 0, 2 threads, spin 10000           8.4      35.3
    nice 0, 2 threads, spin 100000          6.6      24.4
    nice 0, 1 thread (chosen)           6.6-7.9 10.5-11.7 (15.0 at load 3-4)

    char-small, 200 steps (800k)          quiet     loaded
    old: nice 10, 2 threads, spinning 12.4-13.2   >150 [1]
    nice 3, 2 threads, passive             14.1      52.5
    nice 0, 2 threads, passive        14.5-16.4 21.8-23.6
    nice 0, 2 threads, spin 300            14.4      26.2
    nice 0, 2 threads, spin 1000 (chosen) 12.1-12.7 25.3-26.2 (17.5 and 35.8 at load 3-4)
    nice 0, 2 threads, spin 10000          12.3      37.9
    nice 0, 1 thread                       17.9      24.5
    [1] the issue's figure, not rerun

So: nice 0, since every step of niceness hands CPU to whoever else wants it. A model as small as
`seed` trains on one thread: its operations are too small to split, and one thread also holds best
under load (1.4-1.7x its quiet time; 2.3x at load 3-4). A larger one such as `char-small` starts
with torch's thread per core, and the worker moves it between all cores and one thread as the
load comes and goes (thread_tuner.py): one thread beside a rival training is faster than two.

Its idle threads spin for about 100 us before they sleep (GOMP_SPINCOUNT 10000). Remeasured in
December 2026 on the same kind of VM (issue 19), quiet: 400 steps of `char-small` took 13.8-15.0 s
at spin 1000, 11.2 s at 3000, 10.0 s at 10000 and 10.0-10.5 s at 30000 or libgomp's default: the
short spin that was as fast as the old policy in the table above now cost 45%, and put the
headless CLI at 0.72x the plain nanoGPT loop. Beside a rival 2-thread training, two threads took
22.3 s at spin 1000, 29.0 s at 3000, 39.9 s at 10000 and 48 s for 100 steps at the default; one
thread at 10000 took 19.7 s. So: spin 10000, and one thread while the cores are contended.
GOMP_SPINCOUNT is libgomp's, the OpenMP of torch's Linux wheels; other OpenMP runtimes keep their
own default.

With nice 0 the UI still answers keys: `bench.live --only keys` while char-small trains gave
a median of 33.5 ms to switch views and 34.9 ms to move the cursor (load 2.6-3.4).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, replace

from engine.contract.errors import ConfigError

# A policy to use instead of the chosen one, for comparing variants (bench.engine --only
# contention --policy ...): "nice=N,threads=N|default,spin=N|passive|default", fields optional.
OVERRIDE = "LLMLEARNS_CPU_POLICY"
_FORM = "nice=N,threads=N|default,spin=N|passive|default"
OPENMP_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # libgomp reads them as torch loads


@dataclass(frozen=True)
class CpuPolicy:
    nice: int = 0  # added to the niceness the worker inherits from its client
    # torch's intra- and inter-op threads; None starts at torch's default, one per core, and lets
    # a lone CPU run drop to one thread while the cores are contended (thread_tuner.py)
    threads: int | None = None
    # How long an idle OpenMP thread spins before it sleeps, in libgomp's busy-wait iterations
    # (GOMP_SPINCOUNT); 0 is OMP_WAIT_POLICY=PASSIVE, None libgomp's default (300000).
    spin: int | None = 10000

    def describe(self) -> str:
        threads = "default" if self.threads is None else self.threads
        spin = {None: "default", 0: "passive"}.get(self.spin, self.spin)
        return f"nice={self.nice},threads={threads},spin={spin}"


# Models smaller than this (in parameters) train on one thread: `seed` (44k) gains from it,
# `char-small` (800k) loses; nothing between them was measured.
ONE_THREAD_BELOW = 200_000


def parse(spec: str, base: CpuPolicy) -> CpuPolicy:
    """A policy in `describe()` form; fields it leaves out keep `base`'s values."""
    changes: dict = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        if name == "nice" and value.isdigit():  # only up: lowering needs privileges
            changes["nice"] = int(value)
        elif name == "threads" and (value == "default" or (value.isdigit() and int(value) > 0)):
            changes["threads"] = None if value == "default" else int(value)
        elif name == "spin" and (value in ("default", "passive") or value.isdigit()):
            changes["spin"] = int(value) if value.isdigit() else {"passive": 0}.get(value)
        else:
            raise ConfigError(f"{OVERRIDE}: cannot read {item!r}; write {_FORM}")
    return replace(base, **changes)


def choose(params: int, env: Mapping[str, str] = os.environ, ranks: int = 1) -> CpuPolicy:
    """The worker's policy for a model of `params` parameters, or the benchmark's override.

    `ranks` processes training one run on this machine (torchrun) share its cores evenly.
    """
    threads = 1 if params < ONE_THREAD_BELOW else None
    if ranks > 1:
        threads = max(1, (os.cpu_count() or 1) // ranks) if threads is None else threads
    policy = CpuPolicy(threads=threads)
    return parse(env[OVERRIDE], policy) if env.get(OVERRIDE) else policy


def worker_env(env: MutableMapping[str, str]) -> None:
    """Set in a worker's environment what must be there before torch loads: OpenMP reads it then.

    A user who set OpenMP's waiting themselves keeps what they set.
    """
    spin = choose(0, env).spin  # the model is not built yet; the spin is the same for every size
    if spin is None or any(name in env for name in OPENMP_SETTINGS):
        return
    if spin == 0:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        env["GOMP_SPINCOUNT"] = str(spin)


def apply(policy: CpuPolicy) -> None:
    """Apply the priority and thread count to this process (the worker, before it trains)."""
    import torch  # here, not at the top: the client imports this module and never loads torch

    if policy.nice:
        os.nice(policy.nice)
    if policy.threads is not None:
        torch.set_num_threads(policy.threads)
        try:
            torch.set_num_interop_threads(policy.threads)
        except RuntimeError:  # allowed only before any inter-op work; the worker has done none
            pass


def in_force() -> str:
    """What this process runs with, read back (for the worker's log and the benchmark)."""
    import torch

    wait = ",".join(f"{name}={os.environ[name]}" for name in OPENMP_SETTINGS if name in os.environ)
    return f"niceness {os.nice(0)}, {torch.get_num_threads()} torch threads, {wait or 'spinning'}"
