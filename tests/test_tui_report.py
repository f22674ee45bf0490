"""Taking the learning out of the TUI: a screenshot of any view (`p`, and the palette), and the
run's report from the Train view (`r`, and the palette), each saying where it went."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import RunConfig
from tests.tui_fakes import FakeEngine
from tests.tui_helpers import loaded, make_app, settle
from tui.views.registry import VIEWS


def _notices(seen: list) -> list[str]:
    return [m.notification.message for m in seen if type(m).__name__ == "Notify"]


async def test_p_saves_a_screenshot_of_every_view_in_the_run_and_says_where(tmp_path):
    seen: list = []
    fake = FakeEngine()
    fake.run_dir = tmp_path
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await loaded(pilot, fake)
        for view in VIEWS:
            before = set(tmp_path.glob("*.svg"))
            await pilot.press(view.key)
            await settle(pilot, lambda v=view: app.current_view == v.id)
            await pilot.press("p")
            await settle(pilot, lambda b=before: len(set(tmp_path.glob("*.svg")) - b) == 1)
            (saved,) = set(tmp_path.glob("*.svg")) - before
            assert saved.read_text().startswith("<svg")
            assert any(f"Screenshot saved to {saved}" in n for n in _notices(seen)), view.id


async def test_a_screenshot_of_a_run_named_relatively_names_its_whole_path(tmp_path, monkeypatch):
    seen: list = []
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "r").mkdir(parents=True)
    fake = FakeEngine()
    fake.run_dir = Path("runs/r")
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await loaded(pilot, fake)
        await pilot.press("p")
        await settle(pilot, lambda: list((tmp_path / "runs" / "r").glob("*.svg")))
    (saved,) = (tmp_path / "runs" / "r").glob("*.svg")
    assert any(f"Screenshot saved to {saved}" in n for n in _notices(seen))


async def test_the_palette_offers_the_report_and_the_screenshot_with_their_keys():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert commands["Screenshot"].help.startswith("p:")
        assert commands["Write the run's report"].help.startswith("r (Train view)")


def _run_on_disk(run_dir: Path, fake: FakeEngine, corpus: Path) -> None:
    """The fake's history written as a run's files, so the report has a run to read."""
    from tests.conftest import tiny_config

    run_dir.mkdir(parents=True, exist_ok=True)
    config: RunConfig = tiny_config(corpus)
    (run_dir / "config.json").write_text(config.to_json())
    lines = [event.to_json() + "\n" for event in fake._events]
    (run_dir / "events.jsonl").write_text("".join(lines), encoding="utf-8")


async def test_r_writes_the_report_in_the_run_folder_and_says_where(tmp_path, corpus):
    pytest.importorskip("matplotlib", reason="the report needs the report extra")
    seen: list = []
    fake = FakeEngine()
    fake.run_dir = tmp_path / "run"
    _run_on_disk(fake.run_dir, fake, corpus)
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await loaded(pilot, fake)
        await pilot.press("r")
        report = fake.run_dir / "report.html"
        await settle(pilot, lambda: any("Report saved" in n for n in _notices(seen)), timeout=120)
        assert report.exists() and "<svg" in report.read_text()
        assert any(f"Report saved to {report}: open it in a browser" in n for n in _notices(seen))


async def test_a_report_that_cannot_be_written_says_why(tmp_path):
    seen: list = []
    fake = FakeEngine()
    fake.run_dir = tmp_path / "gone"  # no run there
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await loaded(pilot, fake)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Write the run's report"].callback()
        await settle(pilot, lambda: any("Could not write" in n for n in _notices(seen)))
        (notice,) = [n for n in _notices(seen) if "Could not write" in n]
        assert "is not a run directory" in notice and "\n" not in notice


async def test_served_to_a_browser_the_browser_gets_the_report_and_the_screenshot(
    tmp_path, corpus, monkeypatch
):
    pytest.importorskip("matplotlib", reason="the report needs the report extra")
    from tui.app import LlmLearnsApp

    seen: list = []
    fake = FakeEngine()
    fake.run_dir = tmp_path / "run"
    _run_on_disk(fake.run_dir, fake, corpus)
    app, _ = make_app(fake)
    delivered: list[tuple] = []
    monkeypatch.setattr(LlmLearnsApp, "is_web", property(lambda self: True))
    monkeypatch.setattr(
        app, "deliver_text", lambda *args, **kwargs: delivered.append((args, kwargs))
    )
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await loaded(pilot, fake)
        await pilot.press("p", "r")
        await settle(pilot, lambda: len(delivered) == 2, timeout=120)
    kinds = {kwargs["mime_type"]: Path(args[0]) for args, kwargs in delivered}
    assert kinds["text/html"] == fake.run_dir / "report.html"
    assert kinds["image/svg+xml"].parent == fake.run_dir.resolve()
    assert [
        kwargs.get("open_method") for args, kwargs in delivered if "html" in kwargs["mime_type"]
    ] == ["browser"]
