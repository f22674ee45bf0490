"""`report RUN_DIR [-o FILE.html]`: a real tiny run as one web page that opens offline, with the
corpus's text shown as text; damaged, unfinished and missing runs; bad destinations."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from engine import visible
from tests.conftest import PATIENCE_S, SONG, tiny_config
from tui.cli import main as tui_main

pytest.importorskip("matplotlib", reason="the report needs the report extra (matplotlib)")

# A corpus line full of markup, entities, a terminal escape and TeX: it must come out as text.
NASTY = "<script>alert(\"x\")</script> &amp; \x1b[2J </pre><b> $x^2$ 'q' \\n"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source", "area", "base"}
# Anything that would make a browser reach out: a URL with a scheme, a protocol-relative one.
ADDRESS = re.compile(r"(?i)\b(?:https?|wss?|ftp|file)://|(?<![\w/])//[\w-]+\.[\w.-]+|\bwww\.")


class Page(HTMLParser):
    """The page read as a browser would: every tag balanced (bar void ones), the texts it shows,
    and every attribute that could point somewhere."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: list[str] = []
        self.texts: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [(k, v or "") for k, v in attrs if k in ("src", "href", "xlink:href")]
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [(k, v or "") for k, v in attrs if k in ("src", "href", "xlink:href")]

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data):
        self.texts.append(data)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    from engine.training.trainer import train

    base = tmp_path_factory.mktemp("report")
    corpus = base / "corpus.txt"
    corpus.write_text(NASTY + "\n" + SONG * 12, encoding="utf-8")
    config = tiny_config(corpus, "char", max_steps=24, eval_every=8, stats_every=6)
    config = replace(
        config,
        model=replace(config.model, block_size=48),
        sample=replace(config.sample, prompt=NASTY, max_new_tokens=6),
    )
    run_dir = base / "tiny-1"
    list(train(config, run_dir))
    return run_dir


@pytest.fixture
def copy(run, tmp_path) -> Path:
    """A copy of the run, to damage."""
    target = tmp_path / "tiny-1"
    shutil.copytree(run, target)
    (target / "report.html").unlink(missing_ok=True)
    return target


def test_the_report_is_one_page_that_opens_offline_and_shows_the_corpus_as_text(
    run, tmp_path, capsys
):
    out = tmp_path / "report.html"
    assert tui_main(["report", str(run), "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    assert page.open == []  # every tag closed
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
    assert "<script" not in text.lower() and "\x1b" not in text
    assert ADDRESS.search(text) is None, ADDRESS.search(text)
    assert all(value.startswith(("#", "data:")) for _, value in page.links), page.links
    assert "Content-Security-Policy" in text
    # Inline figures: the loss chart first, drawn as vector paths and text.
    assert page.tags.count("svg") >= 4
    loss = text[text.index('<section id="loss">') :]
    assert loss.index("<svg") < loss.index("</svg>") and "<path" in loss[: loss.index("</svg>")]
    # The corpus line, shown whole as text (its escape made visible), never as markup.
    shown = visible(NASTY)
    assert any(shown in t for t in page.texts)  # the sample prompt, in the settings
    assert sum(t.startswith(shown[:20]) for t in page.texts) >= 3  # and each sample's prompt
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;amp;" in text
    # What a reader came for.
    for section in ("facts", "loss", "samples", "attention", "learning", "settings"):
        assert f'<section id="{section}">' in text
    for words in ("Parameters", "Best val loss", "Training time", "Device", "L1 H1"):
        assert words in text
    assert "step 24" in text and "Logit lens at step 24" in text and "Embedding map" in text
    assert "⚠" not in text  # a whole, finished run has nothing to warn about


def test_by_default_the_report_goes_in_the_run_folder(copy, capsys):
    assert tui_main(["report", str(copy)]) == 0
    assert (copy / "report.html").stat().st_size > 10_000
    assert f"wrote {copy / 'report.html'}" in capsys.readouterr().out


def test_the_same_run_gives_the_same_figures(copy, tmp_path):
    """svg.hashsalt: ids do not change from one report to the next (only the date does)."""
    pages = []
    for name in ("a.html", "b.html"):
        assert tui_main(["report", str(copy), "-o", str(tmp_path / name)]) == 0
        pages.append(re.sub(r"on \d{4}-\d\d-\d\d \d\d:\d\d", "", (tmp_path / name).read_text()))
    assert pages[0] == pages[1]


def test_chromium_draws_the_report(run, tmp_path):
    browser = next(
        (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
         if shutil.which(name)),
        None,
    )  # fmt: skip
    if browser is None:
        pytest.skip("Chromium is not installed here (apt-get install chromium): not drawn")
    from matplotlib.image import imread

    out = tmp_path / "report.html"
    assert tui_main(["report", str(run), "-o", str(out)]) == 0
    png = tmp_path / "report.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,1600",
         f"--screenshot={png}", out.as_uri()],
        capture_output=True, timeout=PATIENCE_S, check=False,
    )  # fmt: skip
    pixels = imread(png)[..., :3]  # (H, W, RGB) in 0..1
    inked = (pixels.min(axis=2) < 0.9).mean()  # share of pixels that are not near white
    colours = len({tuple(p) for p in (pixels[::7, ::7] * 255).astype(int).reshape(-1, 3)})
    assert inked > 0.02 and colours > 30, (inked, colours)


@pytest.mark.parametrize(
    ("how", "note"),
    [
        ("config garbage", "config.json is not valid JSON"),
        ("config of the wrong shape", "config.json holds an invalid config"),
        ("garbage lines", "damaged line(s) of events.jsonl were left out"),
        ("still being written", None),  # its torn last line left out, the rest shown
        ("empty", "events.jsonl is empty: this run has no history yet"),
        ("only a config", "events.jsonl is missing: this run has no history yet"),
        ("events unreadable", "events.jsonl cannot be read (Is a directory)"),
    ],
)
def test_a_damaged_run_gives_a_report_of_what_is_there_saying_so(copy, capsys, how, note):
    from tests.test_export import _damage

    _damage(copy, how)
    assert tui_main(["report", str(copy)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) <= 1
    text = (copy / "report.html").read_text(encoding="utf-8")
    Page(text)
    if note is None:
        assert "⚠" not in text and "step 24" in text
    else:
        assert note in visible(text.replace("&#x27;", "'")), note


def test_a_damaged_snapshot_is_left_out_saying_so(copy):
    (copy / "attention" / "step-00000008.attn").write_bytes(b"{not json\n\0")
    (copy / "attention" / "step-00000024.lens").write_text("[]")
    assert tui_main(["report", str(copy)]) == 0
    text = (copy / "report.html").read_text(encoding="utf-8")
    assert "The attention snapshot at step 8 is damaged and left out." in text
    assert "The logit lens at step 24 is damaged and left out." in text
    assert "<summary>step 16 " in text and "<summary>step 8 " not in text


def test_a_run_still_training_says_so(copy):
    events = (copy / "events.jsonl").read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(events) if line.startswith('{"kind":"step","step":13,'))
    (copy / "events.jsonl").write_text("".join(events[:cut]) + '{"kind":"step","st')
    # A live worker: this process stands in for it (worker_alive checks the pid is ours).
    (copy / "worker.json").write_text(json.dumps({"pid": os.getpid()}))
    assert tui_main(["report", str(copy)]) == 0
    text = (copy / "report.html").read_text(encoding="utf-8")
    assert "This run was still running when this report was written (step 12 of 24)" in text
    (copy / "worker.json").unlink()  # and once its worker is gone without a word
    assert tui_main(["report", str(copy)]) == 0
    text = (copy / "report.html").read_text(encoding="utf-8")
    assert "The history stops at step 12 of 24 without an end" in text


def test_a_resumed_runs_repeated_steps_are_the_later_ones(tmp_path):
    from engine.report.record import read_record

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    started = (
        '{"kind":"training_started","run_dir":"x","preset":"tiny","device":"cpu","dtype":"f",'
        '"tokenizer":"char","vocab_size":9,"n_params":1,"n_layer":1,"n_head":1,"n_embd":4,'
        '"block_size":4,"batch_size":1,"start_step":%d,"max_steps":%d,"train_tokens":9,'
        '"val_tokens":9,"resumed":%s}\n'
    )
    lines = [started % (0, 6, "false")]
    lines += [_step(s, 3.0) for s in range(1, 6)]
    lines.append('{"kind":"finished","reason":"stopped","step":5}\n')
    lines.append(started % (3, 8, "true"))  # resumed from the checkpoint at step 3
    lines += [_step(s, 1.0) for s in range(4, 9)]
    (run_dir / "events.jsonl").write_text("".join(lines))
    record = read_record(run_dir)
    assert [(s.step, s.loss) for s in record.steps] == [(1, 3.0), (2, 3.0), (3, 3.0)] + [
        (s, 1.0) for s in range(4, 9)
    ]
    assert record.max_steps == 8 and record.config is None
    assert record.notes[0] == (
        "config.json is missing: the figures shown are those the history recorded."
    )


def _step(step: int, loss: float) -> str:
    return (
        f'{{"kind":"step","step":{step},"loss":{loss},"lr":0.001,"grad_norm":1.0,'
        f'"tokens_per_s":1.0,"elapsed_s":{step},"tokens_seen":{step}}}\n'
    )


def test_a_long_history_is_drawn_in_brief(tmp_path):
    """A long run's steps reach the chart merged (as the app loads them), not one by one."""
    from engine.report.charts import BUCKETS, buckets, ema
    from engine.report.record import STEP_POINTS, read_record

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    steps = 3 * STEP_POINTS
    (run_dir / "events.jsonl").write_text("".join(_step(s, 5.0 / s) for s in range(1, steps + 1)))
    record = read_record(run_dir)
    assert len(record.steps) <= STEP_POINTS and record.steps[-1].step == steps
    assert sum(s.merged for s in record.steps) == steps
    x = [s.step for s in record.steps]
    losses, weights = [s.loss for s in record.steps], [s.merged for s in record.steps]
    bx, (by, _) = buckets(x, [losses, ema(losses, weights)], weights, BUCKETS)
    assert len(bx) <= BUCKETS and bx[-1] == steps
    total = sum(5.0 / s for s in range(1, steps + 1))
    assert abs(sum(by) * (steps / len(by)) - total) / total < 0.05  # means, not samples


def test_the_reports_smoothing_is_the_apps(tmp_path):
    from engine.report.charts import ema
    from tui.state.loss_history import LossHistory

    losses = [4.0 - 0.01 * i + 0.3 * ((i * 7) % 5) for i in range(300)]
    weights = [1 + i % 3 for i in range(300)]
    app = LossHistory()
    for i, (loss, weight) in enumerate(zip(losses, weights, strict=True)):
        app.add_step(i + 1, loss, i, weight=weight)
    assert ema(losses, weights) == pytest.approx(app.ema)


def test_the_reports_overfitting_is_the_apps(tmp_path):
    from engine import EvalCompleted
    from engine.report.charts import overfit_spans
    from engine.report.record import RunRecord
    from tui.state.loss_history import LossHistory

    vals = [3.0, 2.5, 2.6, 2.7, 2.4, 2.5, 2.45, 2.6, 2.7]
    trains = [3.0, 2.4, 2.3, 2.2, 2.3, 2.1, 2.2, 2.0, 1.9]
    record = RunRecord(tmp_path)
    app = LossHistory()
    for i, (val, train) in enumerate(zip(vals, trains, strict=True)):
        record.evals.append(EvalCompleted(step=100 * i, train_loss=train, val_loss=val))
        app.add_eval(100 * i, val, train)
    assert overfit_spans(record) == app.overfit_spans() == [(100, 300), (400, 500), (600, 800)]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing", "nowhere is not a run directory (no such folder)"),
        ("not a run", "is not a run directory (no config.json or events.jsonl)"),
        ("a file", "is not a run directory (no such folder)"),
    ],
)
def test_no_run_there_is_one_line_and_exit_2(tmp_path, capsys, where, message):
    path = tmp_path / "nowhere"
    if where == "not a run":
        path.mkdir()
        (path / "notes.txt").write_text("hello")
    elif where == "a file":
        path.write_text("hello")
    assert tui_main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if where == "a file":
        assert path.read_text() == "hello"
    else:
        assert not (path / "report.html").exists()


def test_a_destination_that_is_a_folder_is_refused(copy, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert tui_main(["report", str(copy), "-o", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder} is a folder: give the report a file name" in err
    assert len(err.strip().splitlines()) == 1 and list(folder.iterdir()) == []


def test_a_destination_below_a_file_is_one_line(copy, tmp_path, capsys):
    (tmp_path / "file").write_text("someone's notes")
    assert tui_main(["report", str(copy), "-o", str(tmp_path / "file" / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "file").read_text() == "someone's notes"


def test_an_unwritable_destination_keeps_the_earlier_report(copy, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out" / "report.html"
    assert tui_main(["report", str(copy), "-o", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    if os.geteuid() != 0:  # root writes anywhere: there, stand in for the OS's refusal
        out.parent.chmod(0o500)
    else:

        def refused(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refused)
    try:
        assert tui_main(["report", str(copy), "-o", str(out)]) == 2
    finally:
        out.parent.chmod(0o700)
    assert capsys.readouterr().err == (
        f"llmlearns-tui: error: cannot write {out}: Permission denied\n"
    )
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


def test_a_failure_while_drawing_leaves_no_file(copy, tmp_path, monkeypatch):
    from engine.report import page

    def broken(record):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(page, "render", broken)
    out = tmp_path / "report.html"
    with pytest.raises(OSError):
        page.write_report(copy, out)
    assert not out.exists() and list(tmp_path.glob(".report*")) == []


def test_without_matplotlib_it_says_how_to_install_it(copy, tmp_path, capsys, monkeypatch):
    from engine.report import drawing

    monkeypatch.setattr(drawing, "_loaded", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    out = tmp_path / "report.html"
    assert tui_main(["report", str(copy), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pip install 'llm-learns[report]'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_svg_is_made_fit_for_a_page():
    from engine.report.drawing import clean_svg

    raw = (
        '<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
        '  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="72pt" height="36pt" '
        'viewBox="0 0 72 36" xmlns="http://www.w3.org/2000/svg" version="1.1">\n'
        ' <metadata><rdf:RDF xmlns:dc="http://purl.org/dc/elements/1.1/"/></metadata>\n'
        ' <defs><clipPath id="p1"><rect/></clipPath></defs>\n'
        ' <g clip-path="url(#p1)"><use xlink:href="#m2"/></g>\n</svg>\n'
    )
    svg = clean_svg(raw, "f3-")
    assert svg.startswith('<svg width="96" height="48" viewBox="0 0 72 36" version="1.1">')
    assert "http" not in svg and "metadata" not in svg
    assert 'id="f3-p1"' in svg and "url(#f3-p1)" in svg and 'xlink:href="#f3-m2"' in svg
