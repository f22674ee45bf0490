"""The Generate view's sampling pipeline, its settings fields, and words that must not run together.

The fake's steps carry the logits of all 13 words (so the pipeline is exact); every fourth step
draws the runner-up, so the drawn token is not always the top row.
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.text import Text
from textual.content import Content
from textual.widgets import Input, Label

from engine import GeneratedToken, SampleConfig
from tests.tui_fakes import FakeEngine, make_task_events
from tests.tui_helpers import Holder, loaded, make_app, settle
from tui.widgets.attention.attention_bars import AttentionBars
from tui.widgets.generate.candidate_bars import CandidateBars, caption
from tui.widgets.generate.generation_output import GenerationOutput
from tui.widgets.generate.pipeline_table import CUT, DRAWN, PipelineTable


async def generated(pilot, fake, **settings) -> PipelineTable:
    """Open Generate, set the fields, generate, and wait for all 30 tokens."""
    app = pilot.app
    await loaded(pilot, fake)
    await pilot.press("3")
    for name, value in settings.items():
        app.query_one(f"#gen-{name}", Input).value = str(value)
    await pilot.pause()
    await pilot.press("enter", "enter")  # the first gives the prompt the keyboard
    await settle(pilot, lambda: len(app.query_one(GenerationOutput).tokens) == 30)
    return app.query_one(PipelineTable)


def lines(widget) -> list[str]:
    return widget.render().plain.splitlines()


def row_of(table: PipelineTable, word: str) -> str:
    return next(line for line in lines(table) if line.split()[0] == word)


async def test_changing_the_settings_redraws_the_pipeline_without_generating_again():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = await generated(pilot, fake)
        assert [stage.active for stage in table.pipeline.stages] == [False] * 4  # all off
        final = table.pipeline.final.probs
        for name, value in [("temperature", "0.5"), ("top_k", "3"), ("top_p", "0.7")]:
            app.query_one(f"#gen-{name}", Input).value = value
            await pilot.pause()
        assert (table.settings.temperature, table.settings.top_k, table.settings.top_p) == (
            0.5,
            3,
            0.7,
        )
        assert all(stage.active for stage in table.pipeline.stages[1:])
        assert table.pipeline.final.probs != final
        assert table.pipeline.stages[2].kept == 3 and table.pipeline.final.kept < 3
        header = lines(table)[0].split()
        assert header == ["token", "raw", "T=0.5", "k=3", "p=.7"]
        # each cut is drawn once, in its own column, and what it dropped shows a dot below
        rows = [line for line in lines(table) if "a stage cuts" not in line]  # not the legend
        assert sum(CUT in line for line in rows) == 2
        assert table.border_subtitle == "settings changed since"
        assert [prompt for prompt, _config in fake.asked(fake.generate)] == ["oh"]


async def test_a_field_that_does_not_parse_keeps_the_last_pipeline_and_says_why():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = await generated(pilot, fake)
        app.query_one("#gen-top_k", Input).value = "2"
        await pilot.pause()
        app.query_one("#gen-temperature", Input).value = "-1"
        await pilot.pause()
        assert "temperature" in lines(table)[0]
        assert table.settings.top_k == 2 and table.pipeline.stages[2].kept == 2


async def test_the_drawn_token_is_marked_even_when_it_was_not_the_likeliest():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = await generated(pilot, fake)
        await pilot.press("left", "left")  # step 28 drew the runner-up
        token = app.query_one(GenerationOutput).tokens[27]
        assert table.token is token and table.index == 27
        assert token.token_id != token.logits.token_ids[0]
        word = token.text.strip()
        marked = [line for line in lines(table) if line.endswith(DRAWN)]
        assert len(marked) == 1 and marked[0].split()[0] == word
        assert lines(table)[2] == marked[0]  # the second row: the runner-up
        bars = app.query_one(CandidateBars)
        assert [line.split()[0] for line in lines(bars)[1:] if line.endswith("◀")] == [word]


async def test_the_fields_say_what_is_off_and_that_temperature_zero_is_greedy():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = await generated(pilot, fake, temperature=0, top_k=3)
        hints = [str(label.render()) for label in app.query(".setting-off").results(Label)]
        assert hints == ["0 = greedy", "0 = off", "1.0 = off"]
        assert table.pipeline.greedy and table.border_subtitle == "T=0: greedy"
        assert lines(table)[0].split()[2:] == ["T=0", "k", "—", "p", "—"]  # top-k not used
        top = [word for word in lines(table)[1].split() if "█" not in word]  # not the bars
        assert top[2:] == ["100%", "100%", "100%", DRAWN]
        assert app.query_one(CandidateBars).border_title == "Candidates · raw (T=0: top)"
        for name, value in [("temperature", "1"), ("top_k", "0")]:
            app.query_one(f"#gen-{name}", Input).value = value
        await pilot.pause()
        assert lines(table)[0].split()[2:] == ["T=1", "k", "off", "p", "off"]


def test_the_candidate_caption_says_before_or_after_the_settings():
    assert caption(SampleConfig()) == "Candidates · raw (all off)"
    assert caption(SampleConfig(temperature=0, top_k=5)) == "Candidates · raw (T=0: top)"
    assert caption(SampleConfig(top_k=5)) == "Candidates · after settings"
    assert caption(SampleConfig(temperature=0.8)) == "Candidates · after settings"


async def test_clicking_a_stage_heading_opens_its_learn_entry():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = await generated(pilot, fake, temperature=0.7)
        x = lines(table)[0].index("T=0.7")
        await pilot.click(PipelineTable, offset=(2 + x, 1))  # border and padding come first
        await settle(pilot, lambda: app.current_view == "learn")
        assert app.current_view == "learn"


# rsvg-convert (SVG screenshot -> PNG) drops the spaces that open a text run: such a run would
# make "oh" + " oh" read "ohoh". A run of spaces alone is harmless.
SPACE_OPENS_WORDS = re.compile(r"^ +\S")


def runs(widget) -> list[str]:
    rendered = widget.render()
    if isinstance(rendered, Content):
        return [segment.text for segment in rendered.render_segments()]
    assert isinstance(rendered, Text)
    return [segment.text for segment in rendered.render(Console(width=200))]


async def test_a_prompt_and_its_continuation_keep_their_space_and_their_boundary():
    output = GenerationOutput()
    async with Holder(output).run_test(size=(60, 10)):
        output.start("oh zebra oh")
        output.flag_unknown(["zebra"])
        for word in ["oh", "my", "love"]:
            output.add(GeneratedToken(1, f" {word}", 0.5, ()))
        assert output.render().plain == "oh zebra oh oh my love"
        assert not [run for run in runs(output) if SPACE_OPENS_WORDS.match(run)]
        spans = output.render().spans
        prompt = {span.style.bgcolor for span in spans if span.end <= len("oh zebra oh")}
        generated = {span.style.bgcolor for span in spans if span.start > len("oh zebra oh")}
        assert None not in prompt and generated == {None}  # the prompt is tinted, the rest not


async def test_labels_keep_the_space_between_their_words():
    bars = AttentionBars()
    async with Holder(bars).run_test(size=(60, 20)):
        bars.show(["oh", "love"], 1, [0.4, 0.6])
        assert lines(bars)[0] == "where love looks:"
        assert not [run for run in runs(bars) if SPACE_OPENS_WORDS.match(run)]
    candidates = CandidateBars()
    async with Holder(candidates).run_test(size=(60, 20)):
        token = GeneratedToken(6, " are", 0.5, ())
        candidates.show(token, 29)
        assert lines(candidates)[0] == "step 30: ␣are ◀ drawn, p 50%"
        assert not [run for run in runs(candidates) if SPACE_OPENS_WORDS.match(run)]


async def test_the_pipeline_table_never_opens_a_run_with_spaces():
    app, fake = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await generated(pilot, fake, temperature=0.7, top_k=4, top_p=0.8)
        assert not [run for run in runs(table) if SPACE_OPENS_WORDS.match(run)]
        assert len(lines(table)) == table.size.height  # it fits at 80×24
        assert max(len(line) for line in lines(table)) <= table.size.width


async def test_t_reaches_the_sampling_settings_and_the_status_line_says_so():
    """#24: nothing said how to reach temperature, top-k and top-p (tab, five times)."""
    app, fake = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("3")
        await pilot.pause()
        assert "t: temp" in str(app.query_one("#gen-status").render())
        await pilot.press("t")
        assert app.focused is app.query_one("#gen-temperature", Input)
        await pilot.press("tab")
        assert app.focused is app.query_one("#gen-top_k", Input)
        await pilot.press("escape")
        await pilot.press("enter", "enter")  # the keyboard is back: enter types the prompt
        await settle(pilot, lambda: len(app.query_one(GenerationOutput).tokens) == 30)
        assert "t: temp, top-k, top-p redraw it" in str(app.query_one("#gen-status").render())


async def test_the_prompt_is_the_runs_own_unless_typed_over():
    """The app knows a new run's config, not what the engine made of it: a task's prompt is in
    its own tokens ("oh" would be all unknown words), and an attached run's is its own."""
    for typed in (None, "7 7 ="):
        app, fake = make_app(FakeEngine(make_task_events("modadd"), live=False))
        async with app.run_test(size=(120, 40)) as pilot:
            field = app.query_one("#gen-prompt", Input)
            assert field.value == "oh"  # the default, until the run's samples say otherwise
            if typed:
                field.value = typed
            await loaded(pilot, fake)
            assert field.value == (typed or "20 20 =")
