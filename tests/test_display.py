"""Text from a corpus, prompt or model never reaches the terminal raw."""

from engine import token_label, visible

HOSTILE = "hi\x1b[2J\x1b]0;owned\x07 there\r\n\x00\x7f\x9b\u202eevil"


def test_visible_replaces_every_control_character():
    shown = visible(HOSTILE)
    assert not any(ord(c) < 32 and c not in "\n\t" for c in shown)
    assert "\x7f" not in shown and "\x9b" not in shown and "\u202e" not in shown
    assert "␛[2J" in shown and "␍" in shown and "<U+202E>" in shown


def test_visible_keeps_line_breaks_unless_told_not_to():
    assert visible("a\nb\tc") == "a\nb\tc"
    assert "\n" not in visible("a\nb", keep_newlines=False)


def test_visible_leaves_ordinary_and_wide_text_alone():
    text = "héllo 世界 👩‍👩‍👧 🇫🇷"
    assert visible(text) == text


def test_token_labels_show_whitespace_and_controls_on_one_line():
    assert token_label(" a\n") == "␣a⏎"
    assert token_label("\t\x00") == "⇥␀"
    assert token_label("\x1b") == "␛"
    assert token_label("") == "∅"
