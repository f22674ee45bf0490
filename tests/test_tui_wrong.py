"""Where the model is wrong: the Train view's passage of validation text coloured by per-token
loss (`w`), its selection (what the model expected instead) and its refresh at every eval."""

from __future__ import annotations

import pytest
from textual.color import Color

from engine import EngineError, EvalCompleted, PassageLosses, StepCompleted
from tests.test_tui_heads import words_run_together
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.widgets.shell.key_hints import KeyHints
from tui.widgets.train.sample_log import SampleLog
from tui.widgets.train.surprise_passage import SurprisePassage, piece


async def show_passage(pilot, fake) -> SurprisePassage:
    await loaded(pilot, fake)
    await pilot.press("w")
    passage = pilot.app.query_one(SurprisePassage)
    await settle(pilot, lambda: passage.passage is not None)
    return passage


def token_backgrounds(widget: SurprisePassage) -> dict[str, Color]:
    """The background each passage token is drawn on, by its text."""
    text = widget.render()
    out = {}
    for span in text.spans:
        if span.style.bgcolor is not None and span.end - span.start > 1:
            out[text.plain[span.start : span.end]] = Color.parse(span.style.bgcolor.name)
    return out


async def test_w_swaps_the_samples_for_the_passage_and_back():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        assert "Where wrong" in app.query_one(KeyHints).render().plain
        assert fake.asked(fake.token_losses) == []  # nothing is measured until it is shown
        passage = await show_passage(pilot, fake)
        assert passage.display and not app.query_one(SampleLog).display
        assert app.focused is passage and fake.asked(fake.token_losses) == [()]
        await pilot.press("w")
        assert not passage.display and app.query_one(SampleLog).display


async def test_tokens_are_coloured_by_their_loss():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        passage = await show_passage(pilot, fake)
        surface = Color.parse(app.theme_variables["surface"])
        backgrounds = token_backgrounds(passage)
        losses = dict(zip(passage.passage.tokens[1:], passage.passage.losses, strict=True))
        assert set(backgrounds) == set(losses)  # every predicted token; "oh" is context only

        # The further a background is from the plain surface, the higher that token's loss.
        def tint(token: str) -> int:
            return sum(abs(a - b) for a, b in zip(backgrounds[token].rgb, surface.rgb, strict=True))

        by_colour = sorted(backgrounds, key=tint)
        assert [losses[t] for t in by_colour] == sorted(losses[t] for t in by_colour)
        # The fake's losses: my 0.5, love 1.5, you 2.5, so three distinct tints, in that order.
        assert tint("my") < tint("love") < tint("you")
        shown = passage.render().plain
        assert "mean 1.50" in shown and "3.91 (ln V, guessing)" in shown  # ln 50, the fake's V


async def test_selecting_a_token_shows_its_loss_and_what_the_model_expected():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        passage = await show_passage(pilot, fake)
        line = passage.render().plain.splitlines()[-2]
        assert line.startswith("▸ my loss 0.50 (p 61%)")  # the first predicted token
        assert "my✓ 61%" in line  # the model's first guess was right
        await pilot.press("right", "right")
        line = passage.render().plain.splitlines()[-2]
        assert line.startswith("▸ you loss 2.50 (p 8.2%)") and "oh 60%" in line
        assert "✓" not in line  # the actual token was not among the model's guesses
        await pilot.press("home")
        assert passage.selected == 0
        await pilot.press("end")
        assert passage.selected == len(passage.passage.losses) - 1
        # A click picks the token under it: "love" starts after "oh my " (border and padding: 2).
        first_row = passage.render().plain.splitlines()[0]
        await pilot.click(SurprisePassage, offset=(2 + first_row.index("love") + 1, 1))
        assert passage.passage.tokens[passage.selected + 1] == "love"


async def test_the_passage_is_measured_again_at_each_eval_while_shown():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        passage = await show_passage(pilot, fake)
        before = passage.passage.mean
        fake.emit(StepCompleted(600, 1.0, 1e-3, 0.5, 1000.0, 60.0, 600 * 96))
        fake.emit(EvalCompleted(step=600, train_loss=1.0, val_loss=1.2))
        await settle(pilot, lambda: passage.passage.step == 600)
        assert passage.passage.mean == pytest.approx(before / 2)  # the fake's losses halve
        assert "step 600" in passage.border_title
        calls = len(fake.asked(fake.token_losses))
        await pilot.press("w")  # hidden: an eval only marks it stale
        fake.emit(EvalCompleted(step=700, train_loss=1.0, val_loss=1.2))
        await settle(pilot, lambda: passage.stale)
        assert len(fake.asked(fake.token_losses)) == calls
        await pilot.press("w")
        await settle(pilot, lambda: passage.passage.step == 700)


HOSTILE = "\x1b]0;owned\x07\x1b[2J"


class HostileEngine(FakeEngine):
    def token_losses(self) -> PassageLosses:
        passage = super().token_losses()
        return PassageLosses(
            (passage.tokens[0], HOSTILE, *passage.tokens[2:]), *list(vars(passage).values())[1:]
        )


class FailingEngine(FakeEngine):
    def token_losses(self) -> PassageLosses:
        raise EngineError(f"the validation split is too short {HOSTILE}")


@pytest.mark.parametrize("engine", [HostileEngine, FailingEngine])
async def test_corpus_text_and_errors_are_never_drawn_raw(engine):
    fake = engine()
    app, _ = make_app(fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("w")
        passage = app.query_one(SurprisePassage)
        await settle(pilot, lambda: passage.passage is not None or passage.error)
        shown = passage.render().plain
        assert "\x1b" not in shown and "\x07" not in shown and "␛" in shown
        assert ("too short" in shown) == (engine is FailingEngine)


def test_a_passage_piece_shows_spaces_and_line_breaks():
    assert piece(" love") == (" love", False)
    assert piece("\n") == ("⏎", True)
    assert piece("a\tb") == ("a⇥b", False)


async def test_the_colour_key_opens_per_token_loss_and_no_space_is_lost():
    app, fake = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        passage = await show_passage(pilot, fake)
        await pilot.press("right")
        rows = range(passage.region.y, passage.region.bottom)
        assert words_run_together(app.export_screenshot(), rows) == []
        key_row = passage.content_region.height - 1
        await pilot.click(SurprisePassage, offset=(2 + 3, 1 + key_row))
        await settle(pilot, lambda: app.current_view == "learn")
        assert app.current_view == "learn"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_passage_layout(snap_compare, size):
    async def run_before(pilot) -> None:
        fake = pilot.app._fake
        await show_passage(pilot, fake)
        await pilot.press("right", "right")
        await settle(pilot)
        await pilot.pause(0.3)  # let the chart's redraw timer fire once

    app, fake = make_app(FakeEngine(make_events()))
    app._fake = fake
    assert snap_compare(app, terminal_size=size, run_before=run_before)
