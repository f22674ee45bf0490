"""The Inside view (key 5): one forward pass, stage by stage, driven by the keyboard.

Pilot tests against the FakeEngine, whose trace has the real stage layout for its model shape, and
snapshots at 80×24 and 120×40.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from textual.widgets import Input

from engine import STAGE_KINDS, EngineError, EvalCompleted
from tests.conftest import PATIENCE_S
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.views.attention import AttentionView
from tui.views.inside import InsideView, part_totals
from tui.widgets.inside.stage_detail import STAGE_TERMS, StageDetail
from tui.widgets.inside.stage_list import StageList
from tui.widgets.inside.token_row import TokenRow

PROBE = "oh my love you are"


async def open_inside(pilot, fake) -> InsideView:
    await loaded(pilot, fake)
    await pilot.press("5")
    view = pilot.app.query_one(InsideView)
    await settle(pilot, lambda: view.trace is not None)
    return view


def traces(fake: FakeEngine) -> list[tuple[str, int]]:
    """(text, position) of each trace the view asked for."""
    return fake.asked(fake.trace)


def rendered(widget) -> str:
    """What a KeptLines widget shows, as plain text."""
    return "\n".join(line.text for line in widget.kept_lines())


async def test_key_5_traces_the_probe_at_its_last_token():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        assert traces(fake) == []  # nothing is asked of the engine until the view is shown
        view = await open_inside(pilot, fake)
        assert app.current_view == "inside" and traces(fake) == [(PROBE, -1)]
        assert view.trace.position == 4 and app.focused is app.query_one(StageList)
        assert "position 5/5: are" in str(app.query_one("#inside-info").render())
        parts = str(app.query_one("#inside-parts").render())
        assert f"{view.trace.n_params:,} parameters" in parts and "MLP 16,384" in parts
        assert "oh my love you are" in rendered(app.query_one(TokenRow))


async def test_arrows_move_through_stages_and_positions():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_inside(pilot, fake)
        stages = app.query_one(StageList)
        await pilot.press("down", "down")
        assert stages.index == 2 and stages.stage.kind == "position_embedding"
        assert app.query_one(StageDetail).stage.kind == "position_embedding"
        await pilot.press("up")
        assert stages.index == 1
        await pilot.press("right")  # already at the last token: nothing to ask
        assert len(traces(fake)) == 1
        await pilot.press("left", "left")
        await settle(pilot, lambda: view.trace.position == 2)
        assert traces(fake)[-1] == (PROBE, 2)
        assert app.query_one(TokenRow).position == 2 and stages.index == 1  # the stage stays
        assert "vector at position 3" in rendered(stages)
        await pilot.press("end")
        assert stages.stage.kind == "top_candidates"
        assert "next token:" in str(app.query_one(StageDetail).render())


def test_every_stage_kind_has_a_learn_entry():
    assert set(STAGE_TERMS) == set(STAGE_KINDS)
    assert STAGE_TERMS["layernorm"] == "Layer normalization"
    assert STAGE_TERMS["gelu"] == "ReLU and GELU" and STAGE_TERMS["scores"] == "Attention scores"


async def test_enter_opens_the_stages_learn_entry():
    app, fake = make_app()
    opened: list[str] = []
    async with app.run_test(size=(100, 30)) as pilot:
        await open_inside(pilot, fake)
        original = app.action_learn
        app.action_learn = lambda term: (opened.append(term), original(term))
        at = 0
        for moves, heading in [
            (4, "Layer normalization"),
            (8, "Attention scores"),
            (16, "ReLU and GELU"),
        ]:
            await pilot.press("5", *["down"] * (moves - at), "enter")
            await pilot.pause()
            assert opened[-1] == heading and app.current_view == "learn"
            at = moves


async def test_a_opens_the_attention_view_at_the_stages_layer():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_inside(pilot, fake)
        attention = app.query_one(AttentionView)
        await settle(pilot, lambda: attention.amap is not None)
        stages = app.query_one(StageList)
        stages.select(next(i for i, s in enumerate(stages.trace.stages) if s.name.startswith(
            "block 1 · softmax")))  # fmt: skip
        await pilot.press("a")
        await settle(pilot, lambda: attention.layer_index == 1)
        assert app.current_view == "attention" and attention.layer_index == 1


async def test_typing_a_text_traces_it_and_gives_the_keyboard_back():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_inside(pilot, fake)
        await pilot.press("slash")
        field = app.query_one("#inside-input", Input)
        assert app.focused is field
        field.value = ""
        await pilot.press(*"you are the one")
        await pilot.press("enter")
        await settle(pilot, lambda: view.trace.tokens[0] == "you")
        assert traces(fake)[-1] == ("you are the one", -1)
        assert app.focused is app.query_one(StageList) and view.trace.position == 3
        await pilot.press("5")  # a view key works again at once
        await pilot.press("slash", "escape")
        assert app.focused is app.query_one(StageList)


async def test_token_text_is_never_shown_raw():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_inside(pilot, fake)
        await pilot.press("slash")
        app.query_one("#inside-input", Input).value = "oh \x1b[2Jboom"
        await pilot.press("enter")
        await settle(pilot, lambda: view.trace.tokens[-1] == "\x1b[2Jboom")
        shown = [rendered(app.query_one(TokenRow)), str(app.query_one("#inside-info").render())]
        stages = app.query_one(StageList)
        stages.select(0)
        await pilot.pause()
        shown.append(str(app.query_one(StageDetail).render()))
        assert all("\x1b" not in text for text in shown)
        assert all("␛[2Jboom" in text for text in shown)


async def test_an_eval_refreshes_the_trace_only_while_the_view_is_shown():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_inside(pilot, fake)
        view.ingest([EvalCompleted(step=300, train_loss=1.0, val_loss=1.1)])
        await settle(pilot, lambda: len(traces(fake)) == 2)
        assert len(traces(fake)) == 2
        await pilot.press("1")
        view.ingest([EvalCompleted(step=300, train_loss=1.0, val_loss=1.1)])
        await pilot.pause(0.2)
        assert len(traces(fake)) == 2
        await pilot.press("5")  # same step as the trace shown: nothing new to ask
        await pilot.pause(0.2)
        assert len(traces(fake)) == 2
        await pilot.press("r")
        await settle(pilot, lambda: len(traces(fake)) == 3)
        assert len(traces(fake)) == 3


async def test_a_slow_trace_never_holds_up_the_keys():
    app, fake = make_app()
    release = threading.Event()
    real_trace = fake.trace

    def slow_trace(text, position=-1):
        release.wait(PATIENCE_S)  # until the test has checked the keys answered meanwhile
        return real_trace(text, position)

    fake.trace = slow_trace
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("5")
        await pilot.press("1")
        # Switched while the engine still works on the trace (a blocking request would still be
        # waiting for the release below, and the key with it).
        assert app.current_view == "train" and app.query_one(InsideView).trace is None
        release.set()
        await settle(pilot, lambda: app.query_one(InsideView).trace is not None)
        assert app.query_one(InsideView).trace is not None


async def test_a_refused_trace_is_shown_in_the_view():
    app, fake = make_app()

    def refuse(text, position=-1):
        raise EngineError("the engine is gone")

    fake.trace = refuse
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("5")
        info = app.query_one("#inside-info")
        await settle(pilot, lambda: "unavailable" in str(info.render()))
        assert "trace unavailable: the engine is gone" in str(info.render())


async def test_a_finished_run_is_traced_too():
    fake = FakeEngine(make_events(finished=True), live=False)
    app, fake = make_app(fake)
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_inside(pilot, fake)
        assert view.trace.step == 300 and app.query_one(StageList).trace is view.trace


def test_the_header_sums_each_kind_of_part_over_the_blocks():
    from engine.contract.inside import model_parts

    parts = model_parts(vocab_size=10, block_size=6, n_layer=2, n_embd=4, bias=False)
    totals = part_totals(parts)
    assert list(totals) == ["token embedding", "position", "attention", "MLP", "norms"]
    assert totals["attention"] == 2 * 4 * 4 * 4 and totals["norms"] == 2 * 2 * 4 + 4
    assert sum(totals.values()) == sum(p.params for p in parts)


# -- snapshots ---------------------------------------------------------------------------------


def _inside_at(keys: list[str]):
    async def run_before(pilot) -> None:
        await open_inside(pilot, pilot.app._fake)
        for key in keys:
            await pilot.press(key)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize(
    "size, keys, n_head",
    [((80, 24), ["down"] * 10, 4), ((120, 40), ["down"], 2)],
    ids=["80x24-softmax-4-heads", "120x40-embedding"],
)
def test_inside_layout(snap_compare, size, keys, n_head):
    app, fake = make_app(FakeEngine(make_events(n_head=n_head), n_head=n_head))
    app._fake = fake
    assert snap_compare(app, terminal_size=size, run_before=_inside_at(keys))


async def test_the_parts_line_wraps_between_items_at_80_columns():
    app, fake = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_inside(pilot, fake)
        lines = str(app.query_one("#inside-parts").render()).splitlines()
        assert len(lines) == 2 and all(len(line) <= 78 for line in lines)
        assert lines[0].endswith(" ·") and "MLP 16,384" in lines[1]


MANY = ["zebra", "xylophone", "zebra"] * 5 + [f"word{i}" for i in range(20)]


def info_line(app) -> str:
    return str(app.query_one("#inside-info").render())


async def test_the_cut_stays_in_sight_and_each_unknown_word_is_listed_once():
    """#24: the list repeated words and pushed the "cut to N tokens" note out of sight."""
    fake = FakeEngine()

    def trace(text, position=-1, at_step=None):
        return replace(FakeEngine.trace(fake, text, position), unknown=tuple(MANY), truncated=True)

    fake.trace = trace
    app, _ = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_inside(pilot, fake)
        line = info_line(app)
        assert "cut to 5 tokens" in line
        assert line.count("zebra") <= 1 and "22 not in vocabulary" in line
        assert len(line) <= 78  # the line's room inside its padding


async def test_an_empty_text_says_so_and_one_of_spaces_says_why_it_traces_a_line_break():
    """#24: an empty text was silently ignored; only spaces was traced as ⏎ with no word why."""
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_inside(pilot, fake)
        field = app.query_one("#inside-input", Input)
        await pilot.press("slash")
        field.value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert "Nothing to trace: the box is empty" in info_line(app)
        assert view.trace.tokens == tuple(PROBE.split())  # the last trace stays
        field.value = "   "
        await pilot.press("enter")
        await settle(pilot, lambda: view.trace.tokens == ("\n",))
        assert info_line(app).startswith("no tokens in this text: traced a line break (⏎)")


async def test_the_stage_list_says_which_stage_of_how_many_when_they_do_not_all_fit():
    app, fake = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_inside(pilot, fake)
        stages = app.query_one(StageList)
        title = rendered(stages).splitlines()[0]
        assert f"stage 1 of {len(view.trace.stages)} · ↑/↓" in title
        assert title.index("shape") == 26 and title.index("params") == 33  # where they always are
