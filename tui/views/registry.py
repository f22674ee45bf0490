"""The views, in tab order: the one table the app's number keys, the tab bar, the palette's "View:"
entries, the tour's links and the routing of events and focus are all made from."""

from __future__ import annotations

from dataclasses import dataclass

from engine import SampleConfig
from tui.views.attention import AttentionView
from tui.views.generate import GenerateView
from tui.views.inside import InsideView
from tui.views.lab import LabView
from tui.views.learn import LearnView
from tui.views.learning import LearningView
from tui.views.train import TrainView
from tui.views.view import View


@dataclass(frozen=True)
class ViewEntry:
    """One view: its key, its id (the widget's, and what app.view() takes), its tab label."""

    key: str
    id: str
    label: str
    kind: type[View]

    def make(self, sample: SampleConfig | None) -> View:
        """The view, given the run's sample settings (its prompt and probe) if known."""
        return self.kind.build(sample, id=self.id)


VIEWS = (
    ViewEntry("1", "train", "Train", TrainView),
    ViewEntry("2", "attention", "Attention", AttentionView),
    ViewEntry("3", "generate", "Generate", GenerateView),
    ViewEntry("4", "learn", "Learn", LearnView),
    ViewEntry("5", "inside", "Inside", InsideView),
    ViewEntry("6", "learning", "Learning", LearningView),
    ViewEntry("7", "lab", "Lab", LabView),
)
FIRST = VIEWS[0].id  # shown at start
