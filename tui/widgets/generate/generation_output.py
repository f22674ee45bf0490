"""The generated text as it streams: the prompt (tinted, unknown words flagged), then each token.

Prompt and tokens are drawn with their control characters made visible (engine.visible): an
escape sequence in a prompt must not reach the terminal.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine import GeneratedToken, visible
from tui.widgets.drawing import theme_color


class GenerationOutput(Widget):
    """Prompt plus streamed tokens; `cursor` picks the token whose candidates are shown."""

    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prompt = ""
        self.unknown: list[str] = []
        self.tokens: list[GeneratedToken] = []
        self.cursor: int | None = None  # None follows the newest token

    def start(self, prompt: str) -> None:
        self.prompt, self.unknown, self.tokens, self.cursor = prompt, [], [], None
        self.refresh(layout=True)

    def flag_unknown(self, words: list[str]) -> None:
        self.unknown = list(words)
        self.refresh()

    def add(self, token: GeneratedToken) -> None:
        self.tokens.append(token)
        # Most tokens land on the line already there: lay out (tens of ms) only for a new line.
        width, height = self.size
        self.refresh(layout=width == 0 or self._wrapped_height(width) != height)

    @property
    def text(self) -> str:
        return "".join(token.text for token in self.tokens)

    @property
    def selected(self) -> int | None:
        if not self.tokens:
            return None
        return len(self.tokens) - 1 if self.cursor is None else self.cursor

    def move(self, delta: int) -> None:
        if self.tokens:
            index = (self.selected or 0) + delta
            self.cursor = max(0, min(len(self.tokens) - 1, index))
            self.refresh()

    def get_content_height(self, container, viewport, width) -> int:
        return self._wrapped_height(width)

    def _wrapped_height(self, width: int) -> int:
        return max(1, len(self.render().wrap(self.app.console, max(1, width))))

    def render(self) -> Text:
        variables = self.app.theme_variables
        out = Text()
        if not self.prompt and not self.tokens:
            return Text(
                "Type a prompt and press enter (empty starts a fresh line).",
                style=Style(color=theme_color(variables, "foreground-muted")),
            )
        unknown = set(self.unknown)
        # The prompt on a tinted ground, so where the model's text begins is plain to see.
        prompt = Style(
            color=theme_color(variables, "foreground-muted"),
            bgcolor=theme_color(variables, "primary-muted", "panel"),
        )
        words = self.prompt.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            if word in unknown:
                flagged = prompt + Style(color=theme_color(variables, "error"), underline=True)
                out.append(visible(word), flagged)
                out.append("" if last else " ", prompt)
            else:  # the space ends this run, never opens the next (see tui.format.spaced)
                out.append(visible(word) + ("" if last else " "), prompt)
        selected = self.selected
        for i, token in enumerate(self.tokens):
            style = Style(reverse=True) if i == selected and self.has_focus else Style(bold=True)
            text = visible(token.text)
            body = text.lstrip(" ")
            out.append(text[: len(text) - len(body)])  # a run of its own: see tui.format.spaced
            out.append(body, style)
        return out

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
