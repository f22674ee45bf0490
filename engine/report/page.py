"""A run's report: one self-contained HTML file (`llmlearns-tui report RUN_DIR`).

Everything is inside the file: the figures are inline SVG drawn by matplotlib, the styles an
inline sheet, and no script at all; a Content-Security-Policy forbids the page to fetch anything.
Every text that came from the corpus, a prompt or the model is made visible (control characters)
and escaped. The file is written to a temp file and renamed, so a failed report never replaces a
good one.
"""

from __future__ import annotations

import html
import json
import math
from datetime import datetime
from pathlib import Path

from engine.contract.config import SECTIONS, describe
from engine.contract.display import token_label, visible
from engine.contract.errors import CheckpointError, EngineError
from engine.contract.events import SampleGenerated
from engine.contract.outputs import AttentionMap
from engine.contract.snapshots import EmbeddingMap, LogitLens
from engine.lens.timelapse import load_lens, load_map, load_snapshot
from engine.report.charts import heads_chart, landmarks, loss_chart, stats_chart
from engine.report.drawing import Svg, matplotlib, styled
from engine.report.heatmaps import (
    attention_figure,
    colour_scale,
    labels_every,
    lens_figure,
    map_figure,
)
from engine.report.record import RunRecord, read_record
from engine.runs.files import CONFIG, atomic_write_text

REPORT = "report.html"  # its default name, in the run's folder
MAX_SNAPSHOTS = 24  # attention snapshots drawn, spread evenly over a long run
TEXT_BUDGET = 2_400  # labels drawn on them in all: a run with many heads gets fewer snapshots
FEW_SAMPLES = 12  # shown at once; the rest behind a click
MAX_SAMPLES = 500
STYLE = """
:root { color-scheme: light; --fg: #1d2329; --muted: #66707a; --line: #e2e5e8; --accent: #0178d4; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  margin: 0; background: #fff; }
main { max-width: 1060px; margin: 0 auto; padding: 24px 20px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; word-break: break-all; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 6px; }
.sub, .why, figcaption, footer { color: var(--muted); }
.why { max-width: 780px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
.notes { background: #fff6e0; border-left: 4px solid #e58e00; padding: 8px 14px; margin: 14px 0; }
.notes p { margin: 4px 0; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr));
  gap: 10px 18px; margin: 12px 0; }
dl.facts div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
dl.facts dt { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; }
dl.facts dd { margin: 2px 0 0; font-size: 17px; word-break: break-word; }
dl.facts dd small { color: var(--muted); font-size: 12px; display: block; }
figure { margin: 10px 0; overflow-x: auto; }
svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px;
  border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
pre, code, .tokens { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 13px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; }
pre b { color: var(--accent); font-weight: 600; }
.tokens span { display: inline-block; border: 1px solid var(--line); border-radius: 3px;
  padding: 0 4px; margin: 0 2px 3px 0; }
details { margin: 6px 0; border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; }
summary { cursor: pointer; font-weight: 600; }
summary span { color: var(--muted); font-weight: 400; }
ul.phases li { margin: 2px 0; }
table.settings { table-layout: fixed; }
table.settings td:nth-child(1) { width: 170px; }
table.settings td:nth-child(2) { width: 230px; word-break: break-word; }
"""
ATTENTION = "Attention on the probe"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def default_path(run_dir: Path) -> Path:
    return run_dir / REPORT


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the report of the run in `run_dir` to `out` (default RUN_DIR/report.html); returns
    the path. Raises EngineError in one line: no run there, matplotlib missing, a destination
    that is a folder or cannot be written (an earlier report there is then kept)."""
    out = default_path(run_dir) if out is None else out
    if out.is_dir():
        raise EngineError(f"{out} is a folder: give the report a file name, e.g. {out / REPORT}")
    record = read_record(run_dir)
    matplotlib()  # missing: say so before the work
    page = styled(lambda: render(record))
    atomic_write_text(out, page)
    return out


def render(record: RunRecord) -> str:
    """The whole page for a run."""
    svg = Svg()
    notes = list(record.notes)
    body = [
        _header(record),
        _facts(record),
        _loss(record, svg),
        _samples(record),
        _attention(record, svg, notes),
        _learning(record, svg, notes),
        _settings(record),
    ]
    if notes:
        body.insert(
            1, '<div class="notes">' + "".join(f"<p>⚠ {_text(n)}</p>" for n in notes) + "</div>"
        )
    written = datetime.now().strftime("%Y-%m-%d %H:%M")
    footer = (
        f"<footer><p>Written by llm-learns on {written} from {_text(str(record.run_dir))}. "
        "Everything is in this one file: it opens offline, and fetches nothing.</p></footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>llm-learns: {_text(record.name)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{''.join(body)}{footer}\n</main>\n</body>\n</html>\n"
    )


def _section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{title}</h2>{"".join(parts)}</section>'


def _why(text: str) -> str:
    """A paragraph of explanation (the page's own words, not escaped)."""
    return f'<p class="why">{text}</p>'


def _text(text: str) -> str:
    """Text from anywhere (a corpus, a model, a path) as HTML: controls visible, all escaped."""
    return html.escape(visible(text), quote=True)


def _number(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:,.0f}" if value == int(value) else f"{value:.3g}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _header(record: RunRecord) -> str:
    started = record.started[0] if record.started else None
    preset = started.preset if started else (record.config.preset if record.config else "?")
    sections = [
        ("facts", "Figures"),
        ("loss", "Loss"),
        ("samples", "Samples"),
        ("attention", "Attention"),
        ("learning", "Learning"),
        ("settings", "Settings"),
    ]
    links = "".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in sections)
    return (
        f"<header><h1>{_text(record.name)}</h1>"
        f'<p class="sub">an llm-learns run · preset {_text(preset)} · {record.state}</p>'
        f"<nav>{links}</nav></header>"
    )


def _fact(name: str, value: str, detail: str = "") -> str:
    small = f"<small>{detail}</small>" if detail else ""
    return f"<div><dt>{name}</dt><dd>{value}{small}</dd></div>"


def _facts(record: RunRecord) -> str:
    started = record.started[0] if record.started else None
    config = record.config
    facts = []
    step, max_steps = record.last_step, record.max_steps
    of = f" of {max_steps:,}" if max_steps else ""
    facts.append(_fact("State", str(record.state), f"step {step:,}{of}"))
    if started:
        shape = (
            f"{started.n_layer} layers, {started.n_head} heads, {started.n_embd} wide, "
            f"context {started.block_size}"
        )
        facts.append(_fact("Parameters", _number(started.n_params), _text(shape)))
        tokenizer = f"{started.tokenizer}, vocabulary {started.vocab_size:,}"
        trained_on = (
            f"{'task' if started.task else 'corpus'}: {_number(started.train_tokens)} train"
            if started.train_tokens > 0
            else started.training_data()
        )
        facts.append(
            _fact(
                "Tokens",
                _text(tokenizer),
                f"{trained_on}, {_number(started.val_tokens)} val",
            )
        )
        facts.append(_fact("Device", _text(started.device), _text(started.dtype)))
    elif config:
        model = config.model
        shape = f"{model.n_layer} layers, {model.n_head} heads, {model.n_embd} wide"
        facts.append(_fact("Model", _text(shape), f"context {model.block_size}"))
    if record.steps:
        last = record.steps[-1]
        seen = f"{_number(last.tokens_seen)} tokens seen"
        if started and started.train_tokens:
            seen += f", {last.tokens_seen / started.train_tokens:.2f} epochs"
        facts.append(_fact("Trained", f"{step:,} steps", seen))
        rates = [s.tokens_per_s for s in record.steps[-50:] if s.tokens_per_s > 0]
        rate = sorted(rates)[len(rates) // 2] if rates else 0.0
        detail = f"{_number(rate)} tokens/s" if rate else ""
        if started and rate and (mfu := started.utilization(rate)) is not None:
            detail += f", MFU {100 * mfu:.1f}%"
        facts.append(_fact("Training time", _duration(last.elapsed_s), detail))
    if (best := record.best_val()) is not None:
        final = record.evals[-1]
        facts.append(
            _fact(
                "Best val loss",
                f"{best.val_loss:.4f}",
                f"at step {best.step:,}; perplexity {math.exp(min(best.val_loss, 700)):.3g}",
            )
        )
        facts.append(
            _fact(
                "Last eval",
                f"{final.val_loss:.4f} val",
                f"{final.train_loss:.4f} train, step {final.step:,}",
            )
        )
    if marks := landmarks(record):
        (name, value, _), *others = marks
        counts = ", ".join(f"{other} {loss:.3f}" for other, loss, _ in others)
        facts.append(
            _fact("Random guessing", f"{name} {value:.3f}", counts and f"counting: {counts}")
        )
    if started and started.pretrained:
        facts.append(_fact("Started from", _text(started.pretrained), "pretrained weights"))
    return _section("facts", "The run in figures", f'<dl class="facts">{"".join(facts)}</dl>')


def _loss(record: RunRecord, svg: Svg) -> str:
    fig = loss_chart(record)
    if fig is None:
        return _section("loss", "Loss", _why("No steps yet."))
    merged = max((s.merged for s in record.steps), default=1)
    brief = (
        f" (this long run's steps in runs of up to {merged:,}, as the app loads them)"
        if merged > 1
        else ""
    )
    return _section(
        "loss",
        "Loss",
        f"<figure>{svg(fig)}<figcaption>How wrong the next-token guesses were, in nats: each "
        f"batch's loss (dots{brief}) and its smoothed average; at each eval, train (hollow) and "
        "validation (filled) loss measured on fixed batches, the best val marked; dashed lines "
        "for random guessing (ln V) and for what unigram and bigram counts achieve; shaded where "
        "val rose while train fell (overfitting); dotted violet lines where an ability appeared."
        "</figcaption></figure>",
    )


def _samples(record: RunRecord) -> str:
    samples = record.samples
    if not samples:
        return _section("samples", "Samples by step", _why("None yet."))
    why = _why("What the model wrote at each eval, from the same prompt (in colour) and seed.")
    if len(samples) <= FEW_SAMPLES:
        return _section("samples", "Samples by step", why, _sample_table(samples))
    every = _spread(samples, MAX_SAMPLES)
    kept = (
        f"{len(every):,} of the {len(samples):,}, spread evenly"
        if len(every) < len(samples)
        else f"all {len(samples):,}"
    )
    return _section(
        "samples",
        "Samples by step",
        why,
        _sample_table(_spread(samples, FEW_SAMPLES)),
        f"<details><summary>More samples <span>· {kept}</span></summary>{_sample_table(every)}"
        "</details>",
    )


def _sample_table(samples: list[SampleGenerated]) -> str:
    rows = []
    for sample in samples:
        prompt, text = sample.prompt, sample.text
        rest = text[len(prompt) :] if prompt and text.startswith(prompt) else text
        head = f"<b>{_text(prompt)}</b>" if rest is not text else ""
        rows.append(
            f'<tr><td class="n">{sample.step:,}</td><td><pre>{head}{_text(rest)}</pre></td></tr>'
        )
    return f"<table><tr><th>step</th><th>text</th></tr>{''.join(rows)}</table>"


def _spread(items: list, count: int) -> list:
    """At most `count` of `items`, evenly spread, the first and the last always among them."""
    if len(items) <= count:
        return list(items)
    if count < 2:
        return [items[-1]]
    picks = sorted({round(i * (len(items) - 1) / (count - 1)) for i in range(count)})
    return [items[i] for i in picks]


def _attention(record: RunRecord, svg: Svg, notes: list[str]) -> str:
    maps: dict[int, AttentionMap] = {}
    for step in reversed(record.snapshots):  # the newest whole one sets the shape
        try:
            maps[step] = load_snapshot(record.run_dir, step)
            break
        except CheckpointError:
            notes.append(f"The attention snapshot at step {step:,} is damaged and left out.")
    if not maps:
        return _section("attention", ATTENTION, _why("No attention snapshots stored yet."))
    newest = next(iter(maps.values()))
    n_layer, n_head, T, _ = newest.shape
    # Each label is a text to lay out, and they cost the time: a snapshot's heads and tokens
    # decide how many snapshots fit in the budget.
    texts = n_layer * n_head + (n_layer + n_head) * math.ceil(T / labels_every(T))
    count = max(2, min(MAX_SNAPSHOTS, TEXT_BUDGET // texts))
    usable = [step for step in record.snapshots if step <= newest.step]
    shown = _spread(usable, count)
    parts: list[str] = []
    for step in reversed(shown):  # newest first: the one worth opening
        try:
            attention = maps.get(step) or load_snapshot(record.run_dir, step)
        except CheckpointError:
            notes.append(f"The attention snapshot at step {step:,} is damaged and left out.")
            continue
        opened = " open" if not parts else ""
        parts.append(
            f"<details{opened}><summary>step {step:,} <span>· {n_layer} layers × {n_head} heads"
            f" · {T} tokens</span></summary><figure>{svg(attention_figure(attention))}</figure>"
            "</details>"
        )
    spans = "".join(f"<span>{_text(token_label(t))}</span>" for t in newest.tokens)
    intro = _why(
        "At every eval the run stores where each head of each layer looks on the probe text. Row "
        "i of a map is token i; its colours say how much it attends to each earlier token "
        "(square-root scale). Above each map, the head's role on this text."
    )
    if len(shown) < len(usable):
        intro += _why(
            f"{len(shown)} of the {len(usable):,} snapshots, spread evenly over the run (the "
            "app's Attention view scrubs through them all)."
        )
    scale = f"<figure>{svg(colour_scale())}<figcaption>attention probability</figcaption></figure>"
    return _section("attention", ATTENTION, intro, f'<p class="tokens">{spans}</p>', scale, *parts)


def _learning(record: RunRecord, svg: Svg, notes: list[str]) -> str:
    parts: list[str] = []
    if (fig := stats_chart(record)) is not None:
        parts.append(
            '<h3>Training statistics</h3><p class="why">Measured every few steps on the batch: '
            "how far each step moved the weights (a healthy update is about a thousandth of the "
            "weight, −3 on this scale), gradients, MLP units that never fire, the residual "
            f"stream and how spread each head's attention is.</p><figure>{svg(fig)}</figure>"
        )
    if (fig := heads_chart(record)) is not None:
        parts.append(
            '<h3>Heads and in-context learning</h3><p class="why">At each eval, each head\'s '
            "habits on a repeated random-token text, and how much lower the loss is late in the "
            f"context than early in it.</p><figure>{svg(fig)}</figure>"
        )
    if record.phases:
        items = "".join(
            f"<li>step {p.step:,}: {_text(p.detail or str(p.phase))}</li>" for p in record.phases
        )
        parts.append(f'<h3>Abilities that appeared</h3><ul class="phases">{items}</ul>')
    parts += _lens_and_map(record, svg, notes)
    if not parts:
        parts.append(_why("This run stored no learning statistics."))
    return _section("learning", "Learning", *parts)


def _lens_and_map(record: RunRecord, svg: Svg, notes: list[str]) -> list[str]:
    lenses: list[LogitLens] = []
    maps: list[EmbeddingMap] = []
    for step in reversed(record.snapshots):
        try:
            lenses.append(load_lens(record.run_dir, step))
            break
        except CheckpointError as error:
            if "corrupt" in str(error):
                notes.append(f"The logit lens at step {step:,} is damaged and left out.")
    for step in (record.snapshots[:1] + record.snapshots[-1:]) if record.snapshots else []:
        try:
            embedding = load_map(record.run_dir, step)
        except CheckpointError as error:
            if "corrupt" in str(error):
                notes.append(f"The embedding map at step {step:,} is damaged and left out.")
            continue
        if not maps or maps[-1].step != embedding.step:
            maps.append(embedding)
    parts = []
    if lenses:
        lens = lenses[0]
        parts.append(
            f'<h3>Logit lens at step {lens.step:,}</h3><p class="why">After each block, what the '
            "model would guess next if it stopped there: colour is the probability it gives the "
            "token that really comes next; each cell names its top guess.</p>"
            f"<figure>{svg(lens_figure(lens))}</figure>"
        )
    if maps:
        steps = " and ".join(f"{m.step:,}" for m in maps)
        parts.append(
            f'<h3>Embedding map at step {steps}</h3><p class="why">Each token\'s embedding on its '
            "first two principal components (dot size: how often it occurs): tokens the model "
            f"uses alike come to lie together.</p><figure>{svg(map_figure(maps))}</figure>"
        )
    return parts


def _settings(record: RunRecord) -> str:
    if record.config is None:
        return _section("settings", "Settings", _why(f"{CONFIG} could not be read."))
    raw = json.loads(record.config.to_json())
    tables = [f"<p>preset <code>{_text(str(raw.get('preset', '')))}</code></p>"]
    for section in SECTIONS:
        rows = []
        for name, value in raw.get(section, {}).items():
            try:
                what = describe(section, name)
            except KeyError:
                what = ""
            shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
            rows.append(
                f"<tr><td><code>{_text(name)}</code></td><td><code>{_text(shown)}</code>"
                f"</td><td>{_text(what)}</td></tr>"
            )
        body = "".join(rows)
        tables.append(f'<h3>{section}</h3><table class="settings">{body}</table>')
    return _section("settings", "Settings", *tables)
