"""Head roles in the Attention view: every head's label, how labels follow the time-lapse, and
the view's Learn links (√ scale, roles, bars, snapshot counter)."""

from __future__ import annotations

import re

from engine import HeadRole, head_roles
from engine.lens.head_roles import MIXED, ROLES
from tests.tui_fakes import PREVIOUS_TOKEN_FROM, FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.views.attention import AttentionView, role_history_line
from tui.widgets.attention.attention_bars import AttentionBars
from tui.widgets.attention.head_grid import HeadGrid, role_label
from tui.widgets.attention.heatmap import AttentionHeatmap


def six_heads():
    fake = FakeEngine(make_events(n_head=6), n_head=6)
    return make_app(fake)


async def open_attention(pilot, fake) -> AttentionView:
    await loaded(pilot, fake)
    await pilot.press("2")
    view = pilot.app.query_one(AttentionView)
    await settle(pilot, lambda: view.amap is not None and len(view.role_history) == 3)
    return view


async def test_every_head_is_labelled_with_the_role_its_attention_implies():
    app, fake = six_heads()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_attention(pilot, fake)
        grid = app.query_one(HeadGrid)
        # The fake's first head looks only at the previous token: a perfect previous-token head.
        assert grid.labels[0] == "prev 1.00"
        expected = [role_label(r) for r in head_roles(view.amap) if r.layer == 0]
        assert grid.labels == expected and len(expected) == 6
        shown = grid.render().plain
        assert all(f"h{h} {label}" in shown for h, label in enumerate(expected))
        lines = shown.splitlines()
        assert len(lines) <= grid.size.height  # six labelled heads still fit at 80×24
        assert max(len(line.rstrip()) for line in lines) <= grid.size.width
        await pilot.press("right_curly_bracket")  # the next layer's heads get their own roles
        assert grid.labels == [role_label(r) for r in head_roles(view.amap) if r.layer == 1]


async def test_labels_follow_the_snapshot_being_scrubbed():
    app, fake = six_heads()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_attention(pilot, fake)
        grid = app.query_one(HeadGrid)
        await pilot.press("left", "left", "left")  # the first snapshot, before the head formed
        await settle(pilot, lambda: view.amap.step == 100)
        assert grid.labels[0].startswith("mixed")
        await pilot.press("right")
        await settle(pilot, lambda: view.amap.step == PREVIOUS_TOKEN_FROM)
        assert grid.labels[0] == "prev 1.00"


async def test_the_grid_says_when_the_selected_heads_role_changed():
    app, fake = six_heads()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_attention(pilot, fake)
        grid = app.query_one(HeadGrid)
        assert grid.border_subtitle == f"h0: mixed → prev at {PREVIOUS_TOKEN_FROM}"
        await pilot.press("right_square_bracket")
        assert grid.border_subtitle == "h1: mixed since step 100"


def test_role_history_keeps_the_latest_changes():
    from engine import HeadRole

    def roles(name):
        return (HeadRole(0, 0, name, 0.5, ()),)

    names = ["mixed", "first-token", "induction", "induction", "previous-token", "mixed"]
    history = {step: roles(name) for step, name in enumerate(names, start=1)}
    assert role_history_line(history, 0, 0) == "h0: … → prev at 5 → mixed at 6"
    assert role_history_line(history, 0, 0, keep=4) == (
        "h0: mixed → first at 2 → ind at 3 → prev at 5 → mixed at 6"
    )
    assert role_history_line({1: roles("mixed")}, 0, 0) == ""  # one snapshot tells nothing
    assert role_history_line(history, 0, 1) == ""  # no such head


async def test_clicking_a_role_opens_head_roles_and_a_map_picks_its_head():
    app, fake = six_heads()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_attention(pilot, fake)
        side, _ = app.query_one(HeadGrid).layout_now()
        # Inside the border and padding (x + 2, y + 1): the second head's map, then its label.
        await pilot.click(HeadGrid, offset=(2 + 14, 1 + 1))
        assert view.head_index == 1 and app.current_view == "attention"
        await pilot.click(HeadGrid, offset=(2 + 4, 1))
        await settle(pilot, lambda: app.current_view == "learn")
        assert app.current_view == "learn"


async def test_the_scale_and_the_bars_title_open_their_learn_entries():
    app, fake = six_heads()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_attention(pilot, fake)
        heatmap = app.query_one(AttentionHeatmap)
        legend_row = heatmap.render().plain.splitlines()[-1]
        await pilot.click(
            AttentionHeatmap,
            offset=(legend_row.index("(√") + 1, len(heatmap.render().plain.splitlines()) - 1),
        )
        await settle(pilot, lambda: app.current_view == "learn")
        assert app.current_view == "learn"
        await pilot.press("2")
        await pilot.click(AttentionBars, offset=(3, 1))  # "where … looks:"
        await settle(pilot, lambda: app.current_view == "learn")
        assert app.current_view == "learn"


def test_the_help_says_a_token_also_attends_to_itself():
    help_ = AttentionView.HELP
    assert "earlier tokens" not in help_.prose and "myself included" in help_.prose
    for term in ("Square-root colour scale", "Head roles", "Attention scores"):
        assert term in help_.terms


TEXT = re.compile(
    r'<text [^>]*x="([\d.]+)" y="[\d.]+" textLength="([\d.]+)" '
    r'clip-path="url\(#terminal-(?:\d+-)?line-(\d+)\)">([^<]*)</text>'
)
SPACE = "&#160;"


def words_run_together(svg: str, rows: range) -> list[str]:
    """Text runs (on these screen rows) that start with a space right after a word and do not
    end with one. Renderers such as rsvg drop such a space: "where my" + " looks:" is drawn
    "where mylooks:"."""
    found, last = [], {}
    for x, length, row, text in TEXT.findall(svg):
        before = last.get(row)
        last[row] = (float(x) + float(length), text)
        if int(row) not in rows or not before or not before[1] or before[1].endswith(SPACE):
            continue
        if text.startswith(SPACE) and not text.endswith(SPACE) and abs(before[0] - float(x)) < 1:
            found.append(f"{before[1]}|{text}".replace(SPACE, " "))
    return found


async def test_no_text_run_on_the_attention_view_starts_with_a_lost_space():
    app, fake = six_heads()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_attention(pilot, fake)
        await pilot.press("down")
        body = range(2, 23)  # below the tabs, above the footer: the view's own rows
        assert words_run_together(app.export_screenshot(), body) == []
        await pilot.press("left")  # a snapshot's counter
        await settle(pilot, lambda: app.query_one(AttentionView).snapshot_index == 2)
        assert words_run_together(app.export_screenshot(), body) == []


def test_every_role_has_a_short_label():
    labels = [role_label(HeadRole(0, 0, role, 0.53, ())) for role in (*ROLES, MIXED)]
    assert "dup .53" in labels and all(len(label) <= 9 for label in labels)
