"""Memory before training: estimate what a run needs and refuse what cannot fit.

Without this a batch far too big grows the worker until the kernel kills it, and the user learns
nothing. The estimate is a deliberate upper-end guess (see estimate_bytes), compared with what is
free now: MemAvailable and any cgroup limit on a CPU, the device's free memory on CUDA.
"""

from __future__ import annotations

from pathlib import Path

from engine.contract.config import ModelConfig
from engine.contract.errors import ConfigError

# fp32 weights (4) + gradients (4) + AdamW's exp_avg and exp_avg_sq (8), bytes per parameter.
BYTES_PER_PARAM = 16
# A checkpoint: weights and AdamW state (12) plus safetensors' serialized copy of the optimizer
# state (8), while gradients and activations are already freed.
CHECKPOINT_BYTES_PER_PARAM = 20
# Activations saved for backward, per token per layer, in units of n_embd: ln_1 in and out (2),
# q, k, v (3), attention output (1), residual (1), ln_2 out (1), MLP hidden before and after GELU
# (8), and LayerNorm statistics, dropout masks and backward's temporaries: 20 (19 measured).
ACTIVATIONS_PER_LAYER = 20
# Per token per layer and head, in units of block_size: the causal attention matrix. The fused
# kernels (used without attention dropout) keep only a row statistic; with dropout the plain path
# keeps scores, softmax, mask and the dropped copy (4.4 measured on a CPU).
ATTENTION_COPIES_FUSED = 1
ATTENTION_COPIES_DROPOUT = 5
# Logits (B, T, vocab) three times: the logits, cross-entropy's log-softmax, and their gradient.
LOGIT_COPIES = 3
FLOAT_BYTES = 4  # everything counted as fp32: bf16 autocast only makes the true need smaller
OVERHEAD_BYTES = 128 << 20  # allocator, autograd and batch bookkeeping (60-75 MB measured)

MEMINFO = Path("/proc/meminfo")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def count_params(model: ModelConfig) -> int:
    """GPT's parameter count from its config, without building it (a huge one may not fit)."""
    C = model.n_embd
    per_block = 12 * C * C + (13 * C if model.bias else 0) + (4 if model.bias else 2) * C
    layer_norm = (2 if model.bias else 1) * C
    tables = (1 if model.tie_head else 2) * model.vocab_size * C  # embedding (and untied head)
    positions = 0 if model.rope else model.block_size * C
    return tables + positions + model.n_layer * per_block + layer_norm


def estimate_bytes(model: ModelConfig, batch_size: int) -> int:
    """Peak bytes training needs beyond what the worker already holds (torch, the corpus).

    max(16 * params + activations, 20 * params) + 128 MB, where activations =
    B * T * (n_layer * (20 * n_embd + copies * n_head * T) + 3 * vocab) * 4 bytes and copies is 1
    (fused attention) or 5 (attention dropout). Against the peak RSS of nine configs on a CPU
    (40 K to 25 M parameters, batch 2 to 256) it was 5-70% high, never low: near the limit it
    errs towards refusing a run that would just have fitted.
    """
    copies = ATTENTION_COPIES_DROPOUT if model.dropout > 0 else ATTENTION_COPIES_FUSED
    per_token = (
        model.n_layer
        * (ACTIVATIONS_PER_LAYER * model.n_embd + copies * model.n_head * model.block_size)
        + LOGIT_COPIES * model.vocab_size
    )
    params = count_params(model)
    activations = batch_size * model.block_size * per_token * FLOAT_BYTES
    training = params * BYTES_PER_PARAM + activations
    return max(training, params * CHECKPOINT_BYTES_PER_PARAM) + OVERHEAD_BYTES


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _stat_value(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == key and words[1].isdigit():
                return int(words[1])
    except OSError:
        pass
    return 0


def _cgroup_dirs(root: Path) -> list[tuple[Path, str]]:
    """This process's memory cgroup folders (v2 or v1) and their ancestors: a limit on any applies.

    In a container the path in /proc/self/cgroup is often not visible under the mount, whose root
    is then the container's own cgroup: it is always included.
    """
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        _, controllers, relative = line.split(":", 2)
        if controllers == "":
            base, version = root, "v2"
        elif "memory" in controllers.split(","):
            base, version = root / "memory", "v1"
        else:
            continue
        folder = base / relative.lstrip("/")
        found += [(f, version) for f in (folder, *folder.parents) if base in (f, *f.parents)]
        if (base, version) not in found:
            found.append((base, version))
    return found


def cgroup_available(root: Path = CGROUP_ROOT) -> int | None:
    """Bytes left under the tightest cgroup memory limit, or None when there is none."""
    best = None
    for folder, version in _cgroup_dirs(root):
        if version == "v2":
            limit = _read_int(folder / "memory.max")
            used = _read_int(folder / "memory.current")
            cache = _stat_value(folder / "memory.stat", "inactive_file")
        else:
            limit = _read_int(folder / "memory.limit_in_bytes")
            used = _read_int(folder / "memory.usage_in_bytes")
            cache = _stat_value(folder / "memory.stat", "total_inactive_file")
        if limit is None or used is None or limit >= 1 << 60:  # v1 writes "no limit" as ~2**63
            continue
        left = max(0, limit - max(0, used - cache))  # inactive page cache is reclaimable
        best = left if best is None else min(best, left)
    return best


def meminfo_available(path: Path = MEMINFO) -> int | None:
    """MemAvailable from /proc/meminfo in bytes (Linux), or None elsewhere."""
    kib = _stat_value(path, "MemAvailable:") if path.exists() else 0
    return kib * 1024 if kib else None


def available_bytes(device) -> int | None:
    """Memory free for this run on `device` (a torch.device), or None if it cannot be told."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None  # MPS shares memory with the system but reports no budget of its own
    known = [n for n in (meminfo_available(), cgroup_available()) if n is not None]
    return min(known) if known else None


def check_fits(model: ModelConfig, batch_size: int, device) -> None:
    """Raise ConfigError (one line, with the estimate) if training cannot fit in memory."""
    available = available_bytes(device)
    if available is None:
        return
    need = estimate_bytes(model, batch_size)
    if need <= available:
        return
    params = count_params(model) * BYTES_PER_PARAM
    biggest = "n_embd or n_layer" if params > need / 2 else "batch_size or block_size"
    raise ConfigError(
        f"not enough memory: training needs about {_size(need)} (estimated) but "
        f"{_size(available)} is free on {device.type}; lower {biggest}"
    )


def _size(n: int) -> str:
    for unit, scale in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1024:,.0f} KB"


def out_of_memory(error: BaseException) -> bool:
    """Whether an exception is an allocation failure (Python's, torch's CPU or CUDA allocator)."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


def describe_out_of_memory(error: BaseException) -> str:
    """The one line a user sees for an allocation failure."""
    return f"out of memory; lower batch_size, block_size, n_embd or n_layer ({_first_line(error)})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    detail = text[0] if text else type(error).__name__
    return detail.split("DefaultCPUAllocator: ")[-1][:160]
