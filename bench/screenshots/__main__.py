"""`python -m bench.screenshots [OUT_DIR]`: the README's screenshots, one per view, of a real run.

Trains the `seed` preset to its end in a real worker (about 15 s on two cores), then visits each
view at 120×40 as a person would (a generation in Generate, a moved cursor in Inside, the
where-wrong passage in Train, each pane of Learning, a head knocked out in the Lab) and saves an
SVG of each into OUT_DIR (default: this folder). Then writes the run's report and, where Chromium
is installed, saves PNGs of three of its parts as Chromium draws them (bench/screenshots/report.py).
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path

from engine import EngineClient, preset

HERE = Path(__file__).resolve().parent
SIZE = (120, 40)


def _keep_spaces(svg: str) -> str:
    """SVG renderers (rsvg-convert, some browsers) drop a text run's leading spaces unless told to
    keep them, so words would run together in the picture though not on the terminal."""
    return re.sub(r"<svg ", '<svg xml:space="preserve" ', svg, count=1)


async def _wait(pilot, until, timeout: float = 60.0) -> None:
    waited = 0.0
    while not until() and waited < timeout:
        await pilot.pause(0.1)
        waited += 0.1
    if not until():
        raise RuntimeError("the app did not get there in time")
    await pilot.pause(0.5)


async def take(out_dir: Path, run_dir: Path) -> list[Path]:
    from tui.app import LlmLearnsApp
    from tui.views.generate import GenerateView
    from tui.views.inside import InsideView
    from tui.views.learning import LearningView
    from tui.widgets.lab.ablation_result import AblationView
    from tui.widgets.lab.importance_table import ImportanceView
    from tui.widgets.learning.embedding_plot import EmbeddingPlot
    from tui.widgets.learning.health import HealthPane

    app = LlmLearnsApp(connect=lambda: EngineClient.start(preset("seed"), run_dir))
    saved: list[Path] = []

    async def shoot(pilot, name: str) -> None:
        await pilot.pause(0.5)
        for widget in app.query("Input"):
            widget.cursor_blink = False
        path = out_dir / f"{name}.svg"
        path.write_text(_keep_spaces(app.export_screenshot(title=f"llm-learns: {name}")))
        saved.append(path)

    async with app.run_test(size=SIZE) as pilot:
        await _wait(pilot, lambda: app.run_state.ended, timeout=180)
        await shoot(pilot, "train")
        await pilot.press("w")
        await pilot.pause(2)
        await shoot(pilot, "train-where-wrong")
        await pilot.press("w", "2")
        await pilot.pause(3)
        await shoot(pilot, "attention")
        await pilot.press("3", "slash", *"my heart", "enter")
        generate = app.query_one(GenerateView)
        await _wait(pilot, lambda: not generate.generating)
        await pilot.press("left", "left", "left")
        await shoot(pilot, "generate")
        await pilot.press("5")
        inside = app.query_one(InsideView)
        await _wait(pilot, lambda: inside.trace is not None)
        await pilot.press("down", "down")
        await shoot(pilot, "inside")
        await pilot.press("4")
        await pilot.pause(2)
        await shoot(pilot, "learn")
        await pilot.press("6")
        learning = app.query_one(LearningView)
        await _wait(pilot, lambda: bool(learning.query_one(HealthPane).verdicts))
        await shoot(pilot, "learning")
        await pilot.press("l")
        await _wait(pilot, lambda: len(learning.lenses) == len(learning.snapshots) > 0)
        await shoot(pilot, "learning-lens")
        await pilot.press("m")
        await _wait(pilot, lambda: app.query_one(EmbeddingPlot).map is not None)
        await shoot(pilot, "learning-map")
        await pilot.press("7", "down", "down", "i")
        ablation, ranking = app.query_one(AblationView), app.query_one(ImportanceView)
        await _wait(
            pilot,
            lambda: (
                getattr(ablation, "result", None) is not None
                and getattr(ranking, "table", None) is not None
            ),
        )
        await shoot(pilot, "lab")
        await pilot.press("q")
    return saved


def main() -> int:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="llmlearns-screens-")) / "seed"
    for path in asyncio.run(take(out_dir, run_dir)):
        print(path)
    from bench.screenshots.report import browser, shoot_report
    from engine import EngineError, write_report

    try:
        report = write_report(run_dir)
    except EngineError as error:  # the report extra not installed: the views' pictures stand
        print(f"no report pictures: {error}")
        return 0
    if browser() is None:
        print(f"{report} written; Chromium is not installed, so no pictures of it")
        return 0
    for path in shoot_report(report, out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
