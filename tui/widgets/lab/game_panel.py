"""The prediction game's panel: the score, the passage up to the token to guess, and how the last
guess went against the model's (tui/state/game.py keeps the game)."""

from __future__ import annotations

from textual.content import Content

from engine import GuessResult
from tui.format import cell_label, learn_link, probability, spaced
from tui.state.game import Game
from tui.widgets.safe_text import SafeStatic

HISTORY = 6  # earlier guesses listed under the last one


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _mark(right: bool) -> tuple[str, str]:
    return ("✓", "bold $success") if right else ("✗", "bold $error")


def explain(result: GuessResult) -> Content:
    """Three lines: the learner's guess and the model's probability for it, the model's own top
    choice, and the token that was there."""
    plain = "$foreground"
    if result.guess_token:
        rank = f" (its {ordinal(result.guess_rank)} choice)" if result.guess_rank else ""
        yours = spaced(
            ("you ", plain), (f"“{cell_label(result.guess_token)}”", "bold"),
            (f": the model gave it {probability(result.guess_prob)}{rank} ", plain),
            _mark(result.correct),
        )  # fmt: skip
    else:
        yours = spaced((f"you: {result.note or 'no token read'} ", plain), _mark(False))
    model = spaced(
        ("the model ", plain), (f"“{cell_label(result.top.text)}”", "bold"),
        (f" {probability(result.top.prob)} ", plain), _mark(result.model_correct),
    )  # fmt: skip
    note = f" · {result.note}" if result.note and result.guess_token else ""
    actual = spaced(
        ("it was ", plain), (f"“{cell_label(result.actual.text)}”", "bold $accent"),
        (f" (the model gave it {probability(result.actual.prob)}){note}", plain),
    )  # fmt: skip
    return Content("\n").join([yours, model, actual])


class GamePanel(SafeStatic):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.game = Game()

    def show(self, error: str = "") -> None:
        game = self.game
        score = spaced(
            learn_link("prediction game", "Prediction game"), (" · ", "$foreground"),
            (game.summary(), "bold"),
        )  # fmt: skip
        lines = [score, Content("")]
        if error:
            lines.append(Content(error).stylize("$error"))
        if game.passage is None:
            lines.append(Content("waiting for a validation passage…").stylize("$foreground-muted"))
            self.update(Content("\n").join(lines))
            return
        shown = " ".join(cell_label(token) for token in game.shown())
        asked = " ▁▁▁ ?" if not game.done else ""
        lines.append(spaced(
            (f"passage {game.passage.number + 1}: ", "$foreground-muted"), (shown, "$foreground"),
            (asked, "bold $accent"),
        ))  # fmt: skip
        lines.append(Content(""))
        if game.waiting:
            lines.append(Content("asking the model…").stylize("$foreground-muted"))
        elif game.results:
            lines.append(explain(game.results[-1]))
        if game.done:
            lines.append(Content("passage done: enter for the next").stylize("$foreground-muted"))
        earlier = game.results[-1 - HISTORY : -1][::-1]
        if earlier:
            lines.append(Content(""))
            for result in earlier:
                lines.append(spaced(
                    ("you ", "$foreground-muted"), _mark(result.correct),
                    ("  model ", "$foreground-muted"), _mark(result.model_correct),
                    (f"  “{cell_label(result.actual.text)}”", "$foreground"),
                ))  # fmt: skip
        self.update(Content("\n").join(lines))
