"""Text from a corpus, a prompt or a model, made safe to show in a terminal.

Control characters (C0, DEL, C1 and the bidirectional overrides) can clear a screen, set a window
title or reorder what follows, so nothing that came from a user or a model is printed raw: each one
becomes a visible stand-in. Both the CLI and the TUI call these; neither prints such text itself.
"""

from __future__ import annotations

import unicodedata

# Unicode's "control pictures" block draws C0 controls as ␀ ␁ … ␟; DEL is ␡.
_PICTURES = {i: chr(0x2400 + i) for i in range(32)} | {0x7F: "␡"}
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}


def _stand_in(char: str) -> str | None:
    code = ord(char)
    if code in _PICTURES:
        return _PICTURES[code]
    if 0x80 <= code < 0xA0 or code in _BIDI:
        return f"<U+{code:04X}>"
    if unicodedata.category(char) in ("Cs", "Co") and code >= 0xD800:  # lone surrogates, private
        return f"<U+{code:04X}>"
    return None


def visible(text: str, *, keep_newlines: bool = True, keep_tabs: bool = True) -> str:
    """`text` with every control character replaced by a visible stand-in.

    Line breaks and tabs stay as they are unless told otherwise (multi-line samples keep their
    shape); a carriage return never stays, since it moves the cursor back over what was printed.
    """
    if text.isprintable() and "\r" not in text:
        return text  # the common case, and fast
    out = []
    for char in text:
        if (char == "\n" and keep_newlines) or (char == "\t" and keep_tabs):
            out.append(char)
        elif (stand_in := _stand_in(char)) is not None:
            out.append(stand_in)
        else:
            out.append(char)
    return "".join(out)


def token_label(token: str) -> str:
    """One token on one line: spaces, line breaks, tabs and controls all visible; "" shows as ∅."""
    out = []
    for char in token:
        if char == " ":
            out.append("␣")
        elif char == "\n":
            out.append("⏎")
        elif char == "\t":
            out.append("⇥")
        else:
            out.append(_stand_in(char) or char)
    return "".join(out) or "∅"
