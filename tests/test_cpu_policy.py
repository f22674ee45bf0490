"""The worker's CPU policy (engine/cpu_policy.py): what it picks, and that the worker applies it.

The figures that justify the choices come from `python -m engine.bench --only contention`;
nothing here is timed.
"""

from __future__ import annotations

import os

import pytest

from engine import PRESETS, ConfigError, TrainingFinished
from engine.client import EngineClient
from engine.cpu_policy import OVERRIDE, CpuPolicy, choose, parse, worker_env
from engine.train import Trainer
from tests.conftest import tiny_config


@pytest.mark.parametrize(("preset", "threads"), [("seed", 1), ("char-small", None)])
def test_each_preset_gets_the_measured_policy(preset, threads):
    params = Trainer.create(PRESETS[preset]).model.num_params()
    assert choose(params, env={}) == CpuPolicy(nice=0, threads=threads, spin=0)


def test_the_override_changes_only_the_fields_it_names():
    policy = choose(10**6, env={OVERRIDE: "nice=5, spin=10000"})
    assert policy == CpuPolicy(nice=5, threads=None, spin=10000)
    assert parse(policy.describe(), CpuPolicy(threads=3)) == policy
    assert parse("threads=2,spin=default", CpuPolicy()) == CpuPolicy(threads=2, spin=None)


@pytest.mark.parametrize("spec", ["threads=0", "nice=x", "spin=fast", "cores=2"])
def test_an_unreadable_override_is_a_one_line_error(spec):
    with pytest.raises(ConfigError, match=f"{OVERRIDE}: cannot read"):
        parse(spec, CpuPolicy())


def test_the_worker_environment_makes_openmp_threads_sleep_unless_the_user_chose():
    env: dict[str, str] = {}
    worker_env(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    worker_env(env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}
    env = {OVERRIDE: "spin=5000"}
    worker_env(env)
    assert env == {OVERRIDE: "spin=5000", "GOMP_SPINCOUNT": "5000"}


@pytest.mark.parametrize(
    ("override", "described", "added_niceness", "threads"),
    [("", "nice=0,threads=1,spin=passive", 0, 1), ("nice=2,threads=2", "nice=2,threads=2", 2, 2)],
)
def test_the_worker_applies_the_policy(
    corpus, tmp_path, monkeypatch, override, described, added_niceness, threads
):
    """Read back from inside the worker: its niceness, torch's thread count, OpenMP's wait."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv(OVERRIDE, override)
    with EngineClient.start(tiny_config(corpus, max_steps=2), tmp_path / "run") as client:
        next(e for e in client.events() if isinstance(e, TrainingFinished))
    log = (tmp_path / "run" / "worker.log").read_text()
    line = next(line for line in log.splitlines() if line.startswith("cpu policy: "))
    in_force = f"niceness {os.nice(0) + added_niceness}, {threads} torch threads"
    assert line.startswith(f"cpu policy: {described}")
    assert line.endswith(f"({in_force}, OMP_WAIT_POLICY=PASSIVE)")
