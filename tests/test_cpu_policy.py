"""The worker's CPU policy (engine/process/cpu_policy.py): what it picks, and that the worker
applies it.

The figures that justify the choices come from `python -m bench.engine --only contention`;
nothing here is timed.
"""

from __future__ import annotations

import os

import pytest

from engine import PRESETS, ConfigError, TrainingFinished
from engine.process.client import EngineClient
from engine.process.cpu_policy import (
    OPENMP_SETTINGS,
    OVERRIDE,
    CpuPolicy,
    choose,
    parse,
    worker_env,
)
from engine.training.trainer import Trainer
from tests.conftest import tiny_config


@pytest.mark.parametrize(("preset", "threads"), [("seed", 1), ("char-small", None)])
def test_each_preset_gets_the_measured_policy(preset, threads):
    params = Trainer.create(PRESETS[preset]).model.num_params()
    assert choose(params, env={}) == CpuPolicy(nice=0, threads=threads, spin=10000)


def test_the_override_changes_only_the_fields_it_names():
    policy = choose(10**6, env={OVERRIDE: "nice=5, spin=10000"})
    assert policy == CpuPolicy(nice=5, threads=None, spin=10000)
    assert parse(policy.describe(), CpuPolicy(threads=3)) == policy
    assert parse("threads=2,spin=default", CpuPolicy()) == CpuPolicy(threads=2, spin=None)


@pytest.mark.parametrize("spec", ["threads=0", "nice=x", "nice=-1", "spin=fast", "cores=2"])
def test_an_unreadable_override_is_a_one_line_error(spec):
    with pytest.raises(ConfigError, match=f"{OVERRIDE}: cannot read"):
        parse(spec, CpuPolicy())


def test_the_worker_environment_bounds_how_long_openmp_threads_spin():
    env: dict[str, str] = {}
    worker_env(env)
    assert env == {"GOMP_SPINCOUNT": "10000"}
    env = {OVERRIDE: "spin=passive"}
    worker_env(env)
    assert env == {OVERRIDE: "spin=passive", "OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize("setting", OPENMP_SETTINGS)
def test_openmp_settings_the_user_made_are_kept(setting):
    env = {setting: "ACTIVE"}
    worker_env(env)
    assert env == {setting: "ACTIVE"}


@pytest.mark.parametrize(
    ("override", "described", "added_niceness", "threads"),
    [("", "nice=0,threads=1,spin=10000", 0, 1), ("nice=2,threads=2", "nice=2,threads=2", 2, 2)],
)
def test_the_worker_applies_the_policy(
    corpus, tmp_path, monkeypatch, override, described, added_niceness, threads
):
    """Read back from inside the worker: its niceness, torch's thread count, OpenMP's wait."""
    for setting in OPENMP_SETTINGS:
        monkeypatch.delenv(setting, raising=False)
    monkeypatch.setenv(OVERRIDE, override)
    with EngineClient.start(tiny_config(corpus, max_steps=2), tmp_path / "run") as client:
        next(e for e in client.events() if isinstance(e, TrainingFinished))
    log = (tmp_path / "run" / "worker.log").read_text()
    line = next(line for line in log.splitlines() if line.startswith("cpu policy: "))
    in_force = f"niceness {os.nice(0) + added_niceness}, {threads} torch threads"
    assert line.startswith(f"cpu policy: {described}")
    assert line.endswith(f"({in_force}, GOMP_SPINCOUNT=10000)")
