"""The prediction game's state (no widgets): the passage being played, which of its tokens is
asked next, and every guess scored so far, the learner's and the model's.

The engine holds the passages and scores each guess (engine/lens/guess.py); this keeps the
score: "you 4/10, the model at step 1,500: 7/10".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine import GamePassage, GuessResult


@dataclass
class Game:
    passage: GamePassage | None = None
    index: int = 0  # which of the passage's asked positions is next
    results: list[GuessResult] = field(default_factory=list)  # every guess, oldest first
    waiting: bool = False  # a guess is with the engine: the next waits for its answer

    def start(self, passage: GamePassage) -> None:
        """Play `passage` from its first asked token; the score carries on."""
        self.passage, self.index = passage, 0

    @property
    def position(self) -> int | None:
        """The passage position the learner guesses now (None: no passage, or it is done)."""
        if self.passage is None or self.index >= len(self.passage.asked):
            return None
        return self.passage.asked[self.index]

    @property
    def done(self) -> bool:
        """Every asked token of the passage is guessed: the next passage is due."""
        return self.passage is not None and self.position is None

    @property
    def next_number(self) -> int:
        return 0 if self.passage is None else self.passage.number + 1

    def shown(self) -> tuple[str, ...]:
        """The tokens the learner may see: those before the one asked (all, once done)."""
        if self.passage is None:
            return ()
        position = self.position
        return self.passage.tokens if position is None else self.passage.tokens[:position]

    def record(self, result: GuessResult) -> None:
        """A scored guess: the asked token is revealed and the next one asked."""
        self.results.append(result)
        self.waiting = False
        if result.number == getattr(self.passage, "number", None) and result.position == (
            self.position
        ):
            self.index += 1

    def score(self) -> tuple[int, int, int]:
        """(the learner's right guesses, the model's, guesses so far)."""
        you = sum(result.correct for result in self.results)
        model = sum(result.model_correct for result in self.results)
        return you, model, len(self.results)

    def summary(self) -> str:
        """ "you 4/10, the model at step 1,500: 7/10" (the step of the latest guess)."""
        you, model, total = self.score()
        if not total:
            return "no guesses yet"
        step = self.results[-1].step
        return f"you {you}/{total}, the model at step {step:,}: {model}/{total}"
