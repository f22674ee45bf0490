"""Honest MFU's two halves: the model FLOPs of one training step, and what the device can do (a
GPU's peak from engine/contract/flops.py, a CPU's matmul rate measured on this machine).

A step's FLOPs are every matmul of its forward and backward pass: 6N + 12·L·T·C per token, N the
weights that multiply (the PaLM paper's formula). tests/test_flops.py checks the formula against
torch's FlopCounterMode run on the model itself (counted_flops), shape by shape; the run uses the
formula, as counting costs seconds (on the meta device torch imports its compiler to do it). Both
count the causal mask's upper half, which fused attention kernels skip.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from engine.contract.config import ModelConfig
from engine.contract.flops import gpu_peak
from engine.data.token_cache import cache_dir
from engine.model.gpt import GPT

# A square float32 matmul big enough for full speed, small enough to repeat many times in
# MEASURE_S: on the project's 2-core VM at load 8, 512 gave its quiet rate (~100 GFLOP/s) as the
# best of ~50 runs, where 1024 gave half that (7 runs, each one likelier to be interrupted).
MATMUL_SIZE = 512
MEASURE_S = 0.2  # how long the CPU measurement runs, after one warm-up matmul
CACHE_FILE = "matmul.json"  # per machine: one core's measured rate by CPU and torch version


def step_flops(config: ModelConfig, batch_size: int) -> int:
    """Model FLOPs of one training step (forward and backward) on batch_size full windows:
    6N + 12·L·T·C per token, N the parameters that multiply."""
    L, T, C, V = config.n_layer, config.block_size, config.n_embd, config.vocab_size
    multiplying = 12 * L * C * C + V * C  # the blocks' matrices and the head (tied or not)
    return (6 * multiplying + 12 * L * T * C) * batch_size * T


def counted_flops(config: ModelConfig, batch_size: int) -> int:
    """The same, counted by FlopCounterMode on the model run forward and backward on the meta
    device (no memory, no compute, no random numbers drawn)."""
    with torch.device("meta"):
        model = GPT(config)
    idx = torch.zeros((batch_size, config.block_size), dtype=torch.long, device="meta")
    # Attention's maths form: its two matmuls forward and four backward, where a fused kernel's
    # count would add the scores it recomputes in the backward pass (hardware, not model, FLOPs).
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        _, loss = model(idx, idx)
        loss.backward()
    return int(counter.get_total_flops())


def device_peak(device: torch.device) -> tuple[float | None, str]:
    """(FLOP/s the device can do, or None; where that figure comes from, for people)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = gpu_peak(name)
        if peak is None:
            return None, f"{name}: no bf16 peak known for this GPU"
        return peak, f"{name}: bf16 dense peak {peak / 1e12:,.0f} TFLOP/s (data sheet)"
    if device.type == "cpu":
        core, threads = cpu_matmul_flops(), torch.get_num_threads()
        return core * threads, (
            f"this CPU's measured float32 matmul rate, {core / 1e9:,.1f} GFLOP/s a core x "
            f"{threads} thread{'s' if threads != 1 else ''}"
        )
    return None, f"no peak known for {device.type}"


def cpu_matmul_flops(cache: Path | None = None) -> float:
    """One core's float32 matmul rate on this machine, in FLOP/s: measured once (a fifth of a
    second) and cached per CPU model and torch version.

    One core, times the threads training uses, is the peak: a measurement on every thread at once
    needs every core free at the same moment, and on a shared machine gave anything from a tenth
    of that to all of it.
    """
    path = cache or cache_dir().parent / CACHE_FILE
    key = f"{_cpu_name()}|{torch.__version__}|mm{MATMUL_SIZE}"  # measured another way: new entry
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if isinstance(known.get(key), float):
        return known[key]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rate = _measure_matmul()
    finally:
        torch.set_num_threads(threads)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**known, key: rate}))
    except OSError:
        pass  # measured again next time: slower, never wrong
    return rate


def _measure_matmul() -> float:
    """The best rate of repeated MATMUL_SIZE matmuls over MEASURE_S seconds: a busy machine's
    lulls show what it can do, where the mean would show how busy it was."""
    n = MATMUL_SIZE
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=generator), torch.randn(n, n, generator=generator)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)  # warm-up: pages fault in
    best, deadline = float("inf"), time.perf_counter() + MEASURE_S
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - started)
    return 2.0 * n**3 / best


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
