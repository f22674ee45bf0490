"""Head importance: every head, most important first, with the val loss its ablation costs and a
bar (engine.ImportanceTable)."""

from __future__ import annotations

from textual.content import Content

from engine import ImportanceTable
from tui.format import learn_link, spaced
from tui.widgets.safe_text import SafeStatic

BAR = "█"


class ImportanceView(SafeStatic):
    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(text, **kwargs)
        self.table: ImportanceTable | None = None

    def show(self, table: ImportanceTable) -> None:
        self.table = table
        self._render_table()

    def show_text(self, text: str) -> None:
        self.update(Content(text))

    def on_resize(self) -> None:
        if self.table is not None:
            self._render_table()

    def _render_table(self) -> None:
        table = self.table
        assert table is not None
        width = self.content_region.width or 30
        top = max((row.increase for row in table.heads), default=0.0)
        bar_room = max(0, width - 20)
        lines = [
            learn_link("head importance", "Head importance"),
            Content(f"{table.method} ablation · step {table.step:,}").stylize("$foreground-muted"),
            Content(f"val loss {table.val_loss:.3f}, and the").stylize("$foreground-muted"),
            Content("rise without each head:").stylize("$foreground-muted"),
        ]
        for rank, row in enumerate(table.heads, start=1):
            share = row.increase / top if top > 0 else 0.0
            bar = BAR * max(0, round(share * bar_room))
            color = "$error" if row.increase > 0 else "$success"
            lines.append(
                spaced(
                    (f"{rank:>2} L{row.layer}H{row.head} ", "$foreground"),
                    (f"{row.increase:+7.3f} ", color),
                    (bar, "$accent"),
                )
            )
        self.update(Content("\n").join(lines))
