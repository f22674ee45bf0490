"""How the engine worker shares the CPU: its priority, torch's threads, OpenMP's wait policy.

The worker used to run at nice 10 so that the UI came first. But niceness ranks a process against
every other one in its scheduling group, not only against the UI: any normal-priority program then
took nearly all the CPU, and a `seed` run that takes 9 s alone took more than 150 s beside another
torch training (issue 9). And idle OpenMP threads spin (libgomp's default) so that, whenever the
cores are oversubscribed, a thread burns its time slice waiting for a sibling that is not running.

Measured with `python -m engine.bench --only contention` on the project's 2-core box, shared with
four other agents running their tests (load average 1.4-2.9 before the competitor; at 7-9 every
variant was slower loaded, and spinning could not finish). Wall seconds of a headless CLI run,
median of 2 interleaved rounds; the competitor is a 2-thread torch training at normal priority:

    seed, 1500 steps (44k parameters)    quiet  loaded       char-small, 200 steps  quiet  loaded
    old: nice 10, 2 threads, spinning   6.5-15   >150 [1]    old                     13.2   >150 [1]
    nice 3, 2 threads, passive            17.2   35.8        nice 3, 2, passive      14.1   52.5
    nice 0, 2 threads, passive            18.5   20.7        nice 0, 2, passive      14.5   23.1
    nice 0, 2 threads, spin 10000          8.4   35.3        nice 0, 2, spin 10000   12.3   37.9
    nice 0, 2 threads, spin 100000         6.6   24.4        nice 0, 1 thread        17.9   24.5
    nice 0, 1 thread                       7.9   11.4
    [1] the issue's figure; at load 7-9 the old policy took 149 s for `seed` with no competitor

So: nice 0, since every step of niceness hands CPU to whoever else wants it. Idle OpenMP threads
sleep (OMP_WAIT_POLICY=PASSIVE): even a short spin made a loaded run 3-4x its quiet time, because a
spinning thread is always runnable and takes the share the working one needed. A small model such
as `seed` runs on one thread: its operations are too small to split, so waking a second thread
for each costs more than it saves (quiet 7.9 s against 18.5 s), and one thread also held best
under load. A larger one such as `char-small` keeps torch's thread per core: one thread was 23%
slower quiet, and no faster loaded. The price: passive waiting makes `char-small` about 10% slower
than spinning when nothing else runs (14.5 s against 13.2 s); spinning made it 1.6-3x slower
whenever anything else did. Switching threads as contention comes and goes would not lift the
loaded figures (one thread did not beat two under load), so it is not done.

With nice 0 the UI still answers keys: `tui.bench_live --only keys` gave a median of 33-44 ms to
switch views (at load 2), against 28 ms at nice 3 and 58 ms for the old policy at load 5.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, replace

from engine.errors import ConfigError

# A policy to use instead of the chosen one, for comparing variants (engine.bench --only
# contention --policy ...): "nice=N,threads=N|default,spin=N|passive|default", fields optional.
OVERRIDE = "LLMLEARNS_CPU_POLICY"
_FORM = "nice=N,threads=N|default,spin=N|passive|default"
OPENMP_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # libgomp reads them as torch loads


@dataclass(frozen=True)
class CpuPolicy:
    nice: int = 0  # added to the niceness the worker inherits from its client
    threads: int | None = None  # torch's intra- and inter-op threads; None keeps torch's default
    # How long an idle OpenMP thread spins before it sleeps, in libgomp's busy-wait iterations
    # (GOMP_SPINCOUNT); 0 is OMP_WAIT_POLICY=PASSIVE, None libgomp's default (300000).
    spin: int | None = 0

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
        if name == "nice" and value.lstrip("-").isdigit():
            changes["nice"] = int(value)
        elif name == "threads" and (value == "default" or (value.isdigit() and int(value) > 0)):
            changes["threads"] = None if value == "default" else int(value)
        elif name == "spin" and (value in ("default", "passive") or value.isdigit()):
            changes["spin"] = int(value) if value.isdigit() else {"passive": 0}.get(value)
        else:
            raise ConfigError(f"{OVERRIDE}: cannot read {item!r}; write {_FORM}")
    return replace(base, **changes)


def choose(params: int, env: Mapping[str, str] = os.environ) -> CpuPolicy:
    """The worker's policy for a model of `params` parameters, or the benchmark's override."""
    policy = CpuPolicy(threads=1 if params < ONE_THREAD_BELOW else None)
    return parse(env[OVERRIDE], policy) if env.get(OVERRIDE) else policy


def worker_env(env: MutableMapping[str, str]) -> None:
    """Set in a worker's environment what must be there before torch loads: OpenMP reads it then.

    What the user set already is kept.
    """
    spin = choose(0, env).spin  # the model is not built yet; the spin is the same for every size
    if spin == 0:
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    elif spin is not None:
        env.setdefault("GOMP_SPINCOUNT", str(spin))


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
