"""`llmlearns-tui cache [--clear]`: what the token cache holds (one line per entry) and clearing it.

Torch is never imported here: the cache's files are listed and removed as files.
"""

from __future__ import annotations

import argparse
import sys

from engine.cli.progress import PROG, age, one_line
from engine.contract.errors import EngineError
from engine.data.cache_store import Entry, cache_dir, clear_entries, list_entries


def add_cache_parser(commands) -> None:
    """The `cache` command's parser, under the command line's subparsers."""
    cache = commands.add_parser(
        "cache",
        help="list the token cache's entries, or clear them",
        description="A corpus is tokenised once into the token cache and reused by every run on "
        "it. List the entries (tokenizer, tokens, size, last use, corpus), or remove them all "
        "with --clear: a run that needs one again tokenises its corpus again.",
    )
    cache.add_argument(
        "--clear", action="store_true", help="remove every entry (except one being written now)"
    )


def cache_command(args: argparse.Namespace) -> int:
    """List or clear the token cache; returns the exit code."""
    folder = one_line(str(cache_dir()))
    if args.clear:
        try:
            removed, busy = clear_entries()
        except EngineError as error:
            print(f"{PROG}: error: {one_line(str(error))}", file=sys.stderr)
            return 2
        freed = sum(entry.size for entry in removed)
        print(f"removed {_entries(len(removed))} ({_size(freed)}) from {folder}")
        if busy:
            print(f"kept {len(busy)} being written now: {', '.join(e.name for e in busy)}")
        return 0
    entries = list_entries()
    if not entries:
        print(f"the token cache is empty ({folder})")
        return 0
    # A corpus's vocabulary file does not name the corpus; its token file, made with it, does.
    sources = {_corpus_id(e): e.source for e in entries if e.source}
    print(f"{'CORPUS':<8}  {'HOLDS':<10} {'TOKENIZER':<9} {'TOKENS':>13} {'SIZE':>9} "
          f"{'USED':>8}  FILE")  # fmt: skip
    for entry in entries:
        print(_row(entry, sources.get(_corpus_id(entry), "")))
    total = sum(entry.size for entry in entries)
    print(f"{_entries(len(entries))}, {_size(total)} in {folder}")
    print(f"remove them all: {PROG} cache --clear")
    return 0


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def _corpus_id(entry: Entry) -> str:
    return entry.name.split("-", 1)[0]


def _row(entry: Entry, source: str) -> str:
    holds = "vocabulary" if entry.tokens is None and not entry.partial else "tokens"
    tokens = "unfinished" if entry.partial else "-" if entry.tokens is None else f"{entry.tokens:,}"
    return (
        f"{_corpus_id(entry)[:8]:<8}  {holds:<10} {one_line(entry.kind) or '?':<9} {tokens:>13} "
        f"{_size(entry.size):>9} {age(entry.used_s):>8}  {one_line(source) if source else '?'}"
    )


def _size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""
