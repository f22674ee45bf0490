"""Small text helpers every view shares: text made safe to show (`shown`), one-line errors,
durations, rates, cheap Static updates, and text measured in terminal cells (a CJK character or an
emoji takes two, a joined emoji one grapheme), so labels line up whatever they hold.
"""

from __future__ import annotations

from typing import TypeVar

from rich.cells import cell_len, split_graphemes
from rich.text import Span as RichSpan
from rich.text import Text
from textual.content import Content, Span
from textual.widgets import Static

from engine import token_label, visible

T = TypeVar("T")


def shown(content: T, *, one_line: bool = False) -> T:
    """`content` as the terminal may be given it: every control character a visible stand-in
    (engine.visible), whether it is a string (markup or not), a Content or a Rich Text; styles
    stay on the characters they were on. `one_line` makes line breaks and tabs visible too.

    The app's text widgets (widgets/safe_text.py) call it on whatever they are given; anything
    else (a Rich table, a drawing) is the app's own and passes unchanged.
    """
    keep = not one_line
    if isinstance(content, str):
        return visible(content, keep_newlines=keep, keep_tabs=keep)  # type: ignore[return-value]
    if not isinstance(content, (Content, Text)):
        return content
    plain = content.plain
    text = visible(plain, keep_newlines=keep, keep_tabs=keep)
    if text == plain:
        return content
    # A stand-in may be longer than its character (<U+0085>): move each span's ends with it.
    at = [0]
    for char in plain:
        at.append(at[-1] + len(visible(char, keep_newlines=keep, keep_tabs=keep)))
    if isinstance(content, Content):
        spans = [Span(at[span.start], at[span.end], span.style) for span in content.spans]
        return Content(text, spans)  # type: ignore[return-value]
    copy = content.copy()
    copy.plain = text
    copy.spans = [RichSpan(at[span.start], at[span.end], span.style) for span in content.spans]
    return copy  # type: ignore[return-value]


def one_line(error: BaseException) -> str:
    """The first line of an error, its control characters made visible (it may quote a text)."""
    text = str(error).strip()
    return visible(text.splitlines()[0], keep_tabs=False) if text else type(error).__name__


def set_text(widget: Static, text: str, *, markup: bool = True) -> None:
    """Update a Static, skipping the update if nothing changed and the (costly) screen layout
    pass if its width stays the same: while training this runs several times a second.

    With markup=False the text is shown as it is (use it for anything a user or corpus wrote).
    """
    previous = getattr(widget, "_shown_text", None)
    if text == previous:
        return
    widget._shown_text = text
    widget.update(
        text if markup else Content(text),
        layout=previous is None or len(previous) != len(text),
    )


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(tokens_per_s: float) -> str:
    if tokens_per_s >= 10_000:
        return f"{tokens_per_s / 1000:.0f}k"
    if tokens_per_s >= 1000:
        return f"{tokens_per_s / 1000:.1f}k"
    return f"{tokens_per_s:.0f}"


def probability(p: float) -> str:
    """A probability as every view shows it, in at most 5 cells: 100%, >99%, 36%, 3.6%, 0.36%,
    <0.1%, 0%. A non-zero value never reads 0%, nor one below 1 as 100%."""
    if p <= 0:
        return "0%"
    if p >= 1:
        return "100%"
    if p >= 0.995:
        return ">99%"
    if p >= 0.0995:
        return f"{p:.0%}"
    if p >= 0.00995:
        return f"{p:.1%}"
    if p >= 0.001:
        return f"{p:.2%}"
    return "<0.1%"


def unknown_words(words: list[str], room: int) -> str:
    """'not in vocabulary: zebra, xylophone +2 more', each word once, in at most `room` cells:
    as many words as fit, else only how many there are ('' for none). Plain text, every word
    made visible (engine.token_label): a prompt may hold anything."""
    labels = [token_label(word) for word in dict.fromkeys(words)]
    for shown in range(len(labels), 0, -1):
        more = f" +{len(labels) - shown} more" if shown < len(labels) else ""
        text = "not in vocabulary: " + ", ".join(labels[:shown]) + more
        if cell_len(text) <= room:
            return text
    for text in (f"{len(labels)} not in vocabulary", f"{len(labels)} unknown"):
        if labels and cell_len(text) <= room:
            return text
    return ""


def graphemes(text: str) -> list[tuple[str, int]]:
    """(grapheme, width in cells) for each grapheme of `text`: 👩‍👩‍👧 or 🇫🇷 is one, 2 cells wide."""
    spans, _ = split_graphemes(text)
    return [(text[start:end], cells) for start, end, cells in spans]


def fit(text: str, width: int, align: str = "left") -> str:
    """`text` cut (ending in …) or padded with spaces to exactly `width` terminal cells.

    Give it a cell_label(), not raw text: Rich joins a leading zero-width joiner to what follows.
    """
    if width <= 0:
        return ""
    if cell_len(text) > width:
        kept, cells = [], 0
        for grapheme, size in graphemes(text):  # whole graphemes: never half an emoji
            if cells + size > width - 1:
                break
            kept.append(grapheme)
            cells += size
        text = "".join(kept) + "…"
    pad = " " * (width - cell_len(text))
    return pad + text if align == "right" else text + pad


def cell_label(token: str) -> str:
    """engine.token_label for a cell grid: a grapheme of no width (a lone joiner, variation
    selector or combining mark), which a terminal may still give a cell, is spelled <U+200D>."""
    out = []
    for grapheme, width in graphemes(token_label(token)):
        out.append(grapheme if width else "".join(f"<U+{ord(c):04X}>" for c in grapheme))
    return "".join(out)


def learn_action(heading: str) -> str:
    """The click action that shows a glossary heading's entry (App.action_learn): for text a
    widget draws itself; code posts messages.LearnAsked instead."""
    return f"app.learn({heading!r})"


def learn_link(text: str, heading: str, style: str = "underline") -> Content:
    """`text` that opens the Learn view at a glossary heading when clicked.

    The heading must be one of tui/glossary.md's (a test checks every link)."""
    action = learn_action(heading)
    return Content(text).stylize(f"{style} @click={action}" if style else f"@click={action}")


def spaced(*parts: str | Content | tuple[str, str]) -> Content:
    """Content.assemble, except that the spaces opening a styled (text, style) run become a run
    of their own.

    rsvg-convert, which turns an SVG screenshot into a PNG, drops the spaces that open a text run
    (librsvg collapses &#160;): "oh" then " oh" reads "ohoh" and right-aligned numbers slide left.
    A run of spaces alone is drawn as nothing, which is right. Give every such run a style.
    """
    out: list[str | Content | tuple[str, str]] = []
    for part in parts:
        if isinstance(part, tuple) and part[1]:
            text, style = part
            body = text.lstrip(" ")
            if body and body != text:
                out.append(text[: len(text) - len(body)])
                part = (body, style)
        out.append(part)
    return Content.assemble(*out)
