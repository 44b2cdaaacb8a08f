"""Byte-exact rewriting: replace a few spans of a file and leave every other byte alone.

>>> apply_edits(b"FROM debian:bookworm\\n", [Edit(5, 20, b"debian:bookworm", b"debian:bookworm@x")])
b'FROM debian:bookworm@x\\n'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Edit", "EditConflictError", "apply_edits"]


class EditConflictError(ValueError):
    """Two edits overlap, or an edit's old bytes are not where it says (a bug, not user error)."""


@dataclass(frozen=True, order=True)
class Edit:
    """Replace ``data[start:end]`` (which must equal ``old``) with ``new``."""

    start: int
    end: int
    old: bytes
    new: bytes


def apply_edits(data: bytes, edits: Iterable[Edit]) -> bytes:
    """``data`` with every edit applied; identical edits count once.

    Raises :class:`EditConflictError` if edits overlap or do not match the bytes, so a
    wrong span can never corrupt a file silently.
    """
    ordered = sorted(set(edits))
    out: list[bytes] = []
    position = 0
    for edit in ordered:
        if edit.start < position:
            raise EditConflictError(f"overlapping edits at byte {edit.start}")
        if data[edit.start : edit.end] != edit.old:
            raise EditConflictError(
                f"bytes {edit.start}..{edit.end} are {data[edit.start : edit.end]!r}, expected {edit.old!r}"
            )
        out.append(data[position : edit.start])
        out.append(edit.new)
        position = edit.end
    out.append(data[position:])
    return b"".join(out)
