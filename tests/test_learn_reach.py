"""Every Learn entry is one key or click from some view, and every link names a real entry.

The walk is generic: it visits each view of the registry's VIEWS, and the New-run form, and collects
the view's help terms (View.HELP, listed by `?`) and every learn link drawn on screen (text made
by tui.format.learn_link, or the form's labels: a click action named `learn`).
"""

from __future__ import annotations

from collections import Counter

from textual._slug import TrackedSlugs  # what Markdown.goto_anchor matches, as in learn.py
from textual.actions import parse as parse_action
from textual.geometry import Region
from textual.screen import Screen
from textual.widgets import MarkdownViewer, Static
from textual.widgets._markdown import MarkdownH2

from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.format import learn_link
from tui.screens.entry import EntryScreen
from tui.screens.new_run import NewRunScreen
from tui.terms import FIELD_TERMS, GLOSSARY, entry, headings
from tui.views.learn import slug
from tui.views.registry import VIEWS
from tui.views.view import View

# Keys that bring a view's on-demand parts on screen (a generation, a query's bars).
FILL = {"generate": ["enter", "enter"], "attention": ["down", "down"]}
SIZE = (200, 60)  # large, so that little of a view is scrolled out of sight


def links_on_screen(screen: Screen) -> set[str]:
    """The headings of every `learn(...)` click action drawn on the screen right now."""
    found = set()
    for widget in screen.walk_children(with_self=False):
        if not widget.region.area:  # hidden, or not laid out
            continue
        width, height = widget.size
        for strip in widget.render_lines(Region(0, 0, width, height)):
            for segment in strip:
                action = segment.style.meta.get("@click") if segment.style else None
                if action:
                    _namespace, name, args = parse_action(action)
                    if name == "learn":
                        found.add(args[0])
    return found


async def walk_every_view() -> dict[str, set[str]]:
    """{place: glossary headings reachable there} for each view and the New-run form."""
    # Its workers all finish; the learning events fill the Learning view's charts and verdicts.
    fake = FakeEngine(make_events(finished=True, learning=True), live=False)
    app, _ = make_app(fake, start_new=lambda config: FakeEngine())
    reach: dict[str, set[str]] = {}
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, fake)
        for view in [v.id for v in VIEWS]:
            app.action_view(view)
            await pilot.pause()
            for key in FILL.get(view, []):
                await pilot.press(key)
                await pilot.pause()
            await app.workers.wait_for_complete()
            await settle(pilot)
            widget = app.query_one(f"#{view}", View)
            terms = set(widget.HELP.terms)
            if view != "learn":  # the glossary itself links nothing: it *is* the entries
                terms |= links_on_screen(app.screen)
            reach[view] = terms
            await pilot.press("escape")  # leave a text field FILL may have focused
        app.action_view("train")
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, NewRunScreen))
        form = app.screen
        fields = [tuple(w.id.split("-", 2)[1:]) for w in form.query(".field")]
        assert fields, "the form shows no fields"
        missing = [f"{s}.{n}" for s, n in fields if (s, n) not in FIELD_TERMS]
        assert not missing, f"New-run fields with no glossary entry in FIELD_TERMS: {missing}"
        reach["new run"] = {FIELD_TERMS[f] for f in fields} | links_on_screen(form)
    return reach


async def test_every_learn_entry_is_reachable_from_some_view():
    reach = await walk_every_view()
    known = set(headings())
    for place, terms in reach.items():
        unknown = sorted(terms - known)
        assert not unknown, f"{place} links to headings the glossary lacks: {unknown}"
    reachable = set().union(*reach.values())
    unreachable = [h for h in headings() if h not in reachable]
    assert not unreachable, f"Learn entries no view reaches: {unreachable}"


def test_glossary_headings_are_unique_and_every_entry_has_text():
    counts = Counter(headings())
    assert [h for h, n in counts.items() if n > 1] == []
    assert len(counts) > 40
    assert [h for h in counts if not entry(h)] == []
    assert GLOSSARY.read_text(encoding="utf-8").count("\n## ") == len(counts)


def test_field_terms_name_glossary_headings():
    assert set(FIELD_TERMS.values()) - set(headings()) == set()


async def test_links_on_screen_finds_a_learn_link():
    app, fake = make_app(FakeEngine(make_events(), live=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        assert "Dropout" not in links_on_screen(app.screen)
        notice = app.query_one("#notice", Static)
        notice.update(learn_link("why", "Dropout"))
        notice.display = True
        await pilot.pause()
        assert "Dropout" in links_on_screen(app.screen)


def heading_at_top(viewer: MarkdownViewer) -> str:
    """The first glossary heading inside the viewer's visible region."""
    top = viewer.region.y
    shown = [h for h in viewer.query(MarkdownH2) if h.region.height and h.region.y >= top]
    return min(shown, key=lambda h: h.region.y).source.removeprefix("## ").strip()


async def test_clicking_a_learn_link_opens_learn_at_its_heading():
    app, fake = make_app(FakeEngine(make_events(), live=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        notice = app.query_one("#notice", Static)
        notice.update(learn_link("what is weight decay?", "Weight decay"))
        notice.display = True
        await pilot.pause()
        await pilot.click("#notice", offset=(3, 0))
        viewer = app.query_one(MarkdownViewer)
        await settle(
            pilot, lambda: viewer.scroll_y > 0 and heading_at_top(viewer) == "Weight decay"
        )
        assert app.current_view == "learn"
        assert heading_at_top(viewer) == "Weight decay"


async def test_f1_on_a_form_field_shows_its_entry_and_keeps_the_form():
    app, _ = make_app(start_new=lambda config: FakeEngine())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, NewRunScreen))
        form = app.screen
        form.query_one("#f-model-dropout").value = "0.2"
        form.query_one("#f-train-weight_decay").focus()
        await pilot.pause()
        assert "Weight decay" in str(form.query_one("#newrun-hint", Static).render())
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, EntryScreen) and app.screen.heading == "Weight decay"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is form and form.query_one("#f-model-dropout").value == "0.2"
        assert app.current_view == "train"  # the form was not left for the Learn view


async def test_clicking_a_form_label_shows_that_fields_entry():
    app, _ = make_app(start_new=lambda config: FakeEngine())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, NewRunScreen))
        form = app.screen
        label = next(w for w in form.query(".field-label") if str(w.render()) == "grad_clip")
        form.query_one("#newrun-form").scroll_to_widget(label, animate=False)
        await pilot.pause()
        await pilot.click(label, offset=(1, 0))
        await pilot.pause()
        assert isinstance(app.screen, EntryScreen)
        assert app.screen.heading == "Gradient norm and clipping"


async def test_every_heading_has_an_anchor_that_finds_it():
    app, fake = make_app(FakeEngine(make_events(), live=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("4")
        viewer = app.query_one(MarkdownViewer)
        await settle(pilot, lambda: bool(viewer.document.table_of_contents))
        unique, first = TrackedSlugs(), {}
        for _level, title, _id in viewer.document.table_of_contents:
            first.setdefault(unique.slug(title), str(title))
        # goto_anchor scrolls to the first title whose slug matches: it must be the heading's own
        assert {h: first.get(slug(h)) for h in headings()} == {h: h for h in headings()}
