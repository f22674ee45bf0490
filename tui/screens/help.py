"""Help for the current view (? or F1): what it shows, its keys, and links into the glossary.

Picking a term dismisses with that term's heading, and the app opens the Learn view there.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Markdown, OptionList, Static
from textual.widgets.option_list import Option

# view id -> (title, prose, glossary headings it uses)
VIEW_HELP: dict[str, tuple[str, str, list[str]]] = {
    "train": (
        "Train",
        """\
The **loss chart** shows how wrong the model's next-token guesses are. The faint line is the raw
loss of each training batch; the bold line is its smoothed average (an EMA, `[` and `]` change
how smooth). Dots are the **validation loss**, measured on text the model never trains on: when it
climbs while the train loss keeps falling, the model is memorising. The dashed line is the loss
of random guessing, ln(vocabulary size): a model starts there and should fall below it quickly.

Keys: `l` log-scale y · `x` steps or tokens seen on the x axis · `space` pause/resume ·
`s` save a checkpoint · `g` draw a sample now. Samples appear below, one per eval.""",
        [
            "Cross-entropy loss",
            "Train and validation loss",
            "Learning rate",
            "Gradient",
            "Batch",
            "Epoch",
            "Vocabulary",
            "AdamW",
            "Backpropagation",
        ],
    ),
    "attention": (
        "Attention",
        """\
Each row of the **heatmap** is a token asking "which earlier tokens matter to me?"; each column is
a token it may look at. Brighter means more attention; each row sums to 1. Dots mark the future,
which a causal model is not allowed to see. The small maps show every head of the chosen layer.

Keys: `↑`/`↓` pick the query token (its bars list where it looks) · `[`/`]` head ·
`{`/`}` layer · `←`/`→` scrub through the snapshots stored at each eval, all of the run's probe
text · `r` refresh · `a` toggle auto refresh. `/` (or enter) types in the box, enter shows it.""",
        [
            "Attention and self-attention",
            "Keys, queries and values",
            "Causal masking",
            "Multi-head attention",
            "Softmax",
            "Token",
            "Block size (context window)",
            "Transformer",
        ],
    ),
    "generate": (
        "Generate",
        """\
Press `/` (or enter) to type a prompt, then **enter**: the model continues it one token at a
time. Beside the output, bars show the most likely next tokens it weighed at each step; `←`/`→`
on the output pick a step.
Words the vocabulary lacks are flagged in red. An empty prompt starts a fresh line.

**temp** flattens (>1) or sharpens (<1) the distribution, 0 always takes the top token; **top-k**
keeps only the k likeliest; **top-p** keeps the smallest set whose probability reaches p.""",
        ["Temperature, top-k and top-p", "Logits", "Softmax", "Token", "Vocabulary"],
    ),
    "learn": (
        "Learn",
        """\
The glossary explains every term the other views use, in plain words. `t` shows the contents;
scroll with the arrow keys or page up/down.""",
        ["Transformer", "What the views show"],
    ),
}

GLOBAL_KEYS = (
    "`1`–`4` views · `space` pause/resume · `s` save · `g` sample · `n` new run · "
    "`ctrl+p` commands · `q` or `ctrl+c` quit · in a text field every key types: `esc` leaves it"
)


class HelpScreen(ModalScreen[str | None]):
    """Dismisses with a glossary heading to open, or None."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss_help", "Close")]

    def __init__(self, view: str) -> None:
        super().__init__()
        self.view = view if view in VIEW_HELP else "train"

    def compose(self) -> ComposeResult:
        title, prose, terms = VIEW_HELP[self.view]
        with Vertical(id="help-dialog"):
            yield Static(f"[b]Help: the {title} view[/b]", id="help-title")
            with Horizontal(id="help-body"):
                yield Markdown(f"{prose}\n\n{GLOBAL_KEYS}", id="help-prose")
                with Vertical(id="help-terms-box"):
                    yield Static("Terms (enter opens Learn)", id="help-terms-title")
                    yield OptionList(*[Option(term, id=term) for term in terms], id="help-terms")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
