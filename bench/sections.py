"""bench/RESULTS.md is a page of sections, each headed ``## ...`` and written by one
benchmark script: ``replace`` puts a script's new section where its old one was (or at
the end), leaving the others as they are."""

from __future__ import annotations

from pathlib import Path


def replace(out: Path, mark: str, lines: list[str]) -> None:
    """Replace the section headed ``mark`` of ``out`` with ``lines`` (or append them)."""
    text = out.read_text() if out.exists() else ""
    head, _, rest = text.partition(mark)
    nxt = rest.find("\n## ")
    tail = rest[nxt:] if mark in text and nxt >= 0 else ""
    after = "\n" + tail.lstrip("\n") if tail else ""
    out.write_text(head.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n" + after)
