"""The Learn view: the glossary (tui/glossary.md) with a table of contents, jumpable by term."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import MarkdownViewer, Tree

from tui.screens.help import ViewHelp
from tui.views.view import View

GLOSSARY = Path(__file__).resolve().parent.parent / "glossary.md"


def slug(term: str) -> str:
    """The anchor Textual's Markdown gives a heading (GitHub-style)."""
    from textual._slug import slug as textual_slug  # private, but it is what goto_anchor matches

    return textual_slug(term)


class LearnView(View):
    """Shows the glossary; `goto(anchor)` scrolls to a term's heading.

    The document is mounted on first use: a few hundred Markdown blocks cost every other view a
    slower restyle, and most sessions open Learn late or never.
    """

    HELP = ViewHelp(
        "Learn",
        """\
The glossary explains every term the other views use, in plain words. `t` shows the contents;
scroll with the arrow keys or page up/down. The terms listed here follow one token through the
model, in the order of a forward pass.""",
        [
            "What the views show",
            "Transformer",
            "The forward pass",
            "Position and token embeddings",
            "Layer normalization",
            "Linear layer",
            "Residual connection",
            "Feed-forward network",
            "ReLU and GELU",
            "Vector norm",
            "Cosine similarity",
        ],
    )

    BINDINGS = [Binding("t", "toggle_toc", "Contents")]

    def compose(self) -> ComposeResult:
        return []

    async def _viewer(self) -> MarkdownViewer:
        viewers = self.query(MarkdownViewer)
        if viewers:
            return viewers.first()
        viewer = MarkdownViewer(
            GLOSSARY.read_text(encoding="utf-8"), id="glossary", show_table_of_contents=False
        )
        await self.mount(viewer)
        return viewer

    async def focus_main(self) -> None:
        (await self._viewer()).document.focus()

    async def goto(self, anchor: str, tries: int = 10) -> None:
        viewer = await self._viewer()
        # A freshly mounted document parses its Markdown asynchronously: retry until it has.
        if not viewer.document.goto_anchor(anchor) and tries:
            self.set_timer(0.1, lambda: self.goto(anchor, tries - 1))

    async def action_toggle_toc(self) -> None:
        # The contents take the keyboard while shown (↑/↓ and enter pick a heading); hiding
        # them gives it back to the document.
        viewer = await self._viewer()
        viewer.show_table_of_contents = not viewer.show_table_of_contents
        if viewer.show_table_of_contents:
            viewer.table_of_contents.query_one(Tree).focus()
        else:
            viewer.document.focus()
