"""A run's model as a Hugging Face GPT-2 folder (`llmlearns-tui export RUN_DIR --hf OUT_DIR`), so
the model a learner watched can be carried into `transformers` or TransformerLens."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from engine.contract.errors import ConfigError
from engine.data.tokenizer import load_tokenizer
from engine.model.gpt import GPT
from engine.model.pretrained import refused_for_gpt2, save_gpt2
from engine.runs.files import TOKENIZER, load_config, write_error
from engine.training.checkpoint import load_weights


def export_hf(run_dir: Path, out_dir: Path) -> list[str]:
    """Write the run's last checkpoint to out_dir as GPT-2 (config.json, model.safetensors,
    tokenizer.json); a folder already there is replaced whole, never left half-written. Returns
    the names written. Raises EngineError (one line) for a run GPT-2 cannot express."""
    config = load_config(run_dir).model
    if refused := refused_for_gpt2(config):
        raise ConfigError(
            f"{run_dir} trained with {', '.join(refused)}, which GPT-2 has not: it cannot be "
            "exported as GPT-2"
        )
    model = GPT(config)
    load_weights(run_dir, model)
    tokenizer = load_tokenizer(run_dir / TOKENIZER)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} is a file, not a folder to export into")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    except OSError as error:
        raise write_error(out_dir, error) from None
    try:
        written = save_gpt2(model, tokenizer.hugging_face(), temp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        temp.rename(out_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return written
