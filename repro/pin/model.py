"""The results of ``pin``, ``check`` and ``refresh`` as plain values.

The library returns these; :mod:`repro.pin.render` turns them into text, JSON, GitHub
annotations or Markdown at the edge, so a later stage can add to a report (say, which
packages changed with a new base image) without touching how it was produced.
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.digest import Digest
from repro.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_REGISTRY, EXIT_TAG_MOVED
from repro.platform import Platform

__all__ = [
    "Action",
    "CheckReport",
    "FileChange",
    "Finding",
    "FindingKind",
    "PinReport",
    "PinResult",
    "RefreshChange",
    "RefreshReport",
    "Site",
]


@dataclass(frozen=True, order=True)
class Site:
    """Where an image is named: a file (as the user gave or found it) and a 1-based line."""

    file: str
    line: int
    #: ``from``, ``copy-from``, ``mount-from`` or ``syntax``.
    kind: str = "from"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "kind": self.kind}


class Action(enum.StrEnum):
    """What ``pin`` did with one image reference."""

    PINNED = "pinned"  # was a tag, now tag@digest
    UPDATED = "updated"  # was pinned, the tag moved, now pinned to the new digest (--update)
    UNCHANGED = "unchanged"  # already pinned and left alone (or still current)
    SKIPPED = "skipped"  # not an external image, or not pinnable in place (see reason)


@dataclass(frozen=True)
class PinResult:
    """One image reference in one file, and what became of it."""

    site: Site
    action: Action
    #: The image text as written (for an ARG-driven FROM, the ARG's default).
    text: str
    #: The text written in its place (None when nothing was written).
    new_text: str | None = None
    digest: Digest | None = None
    platforms: tuple[tuple[Platform, Digest], ...] = ()
    media_type: str | None = None
    #: Why it was skipped, or a note (e.g. "pinned through ARG BASE").
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.site.to_json(),
            "action": str(self.action),
            "text": self.text,
            "new_text": self.new_text,
            "digest": str(self.digest) if self.digest else None,
            "media_type": self.media_type,
            "platforms": {str(p): str(d) for p, d in self.platforms},
            "reason": self.reason,
        }


class FindingKind(enum.StrEnum):
    """Kinds of problem ``check`` (and ``pin``) report; the first three decide the exit code."""

    UNPINNED = "unpinned"  # exit 1
    PLATFORM = "platform"  # exit 1: a required platform is missing, or a single-platform pin
    MOVED = "moved"  # exit 2 (--fresh)
    REGISTRY = "registry"  # exit 3 (--fresh): could not check
    NOTE = "note"  # never changes the exit code: skipped references, lock out of step


_EXIT_BY_KIND = {
    FindingKind.UNPINNED: EXIT_CHECK_FAILED,
    FindingKind.PLATFORM: EXIT_CHECK_FAILED,
    FindingKind.MOVED: EXIT_TAG_MOVED,
    FindingKind.REGISTRY: EXIT_REGISTRY,
}


@dataclass(frozen=True)
class Finding:
    """A problem (or a note) about one site."""

    site: Site
    kind: FindingKind
    message: str
    #: The image text as written.
    text: str = ""

    @property
    def is_error(self) -> bool:
        return self.kind is not FindingKind.NOTE

    def to_json(self) -> dict[str, Any]:
        return {**self.site.to_json(), "kind": str(self.kind), "message": self.message, "text": self.text}


@dataclass(frozen=True)
class FileChange:
    """A file's bytes before and after; ``written`` tells whether they reached the disk."""

    path: Path
    display: str
    old: bytes = field(repr=False)
    new: bytes = field(repr=False)
    written: bool = False

    def unified_diff(self) -> str:
        """A unified diff of the change (``a/FILE`` and ``b/FILE``), as git prints one."""
        lines = difflib.diff_bytes(
            difflib.unified_diff,
            self.old.splitlines(keepends=True),
            self.new.splitlines(keepends=True),
            f"a/{self.display}".encode(),
            f"b/{self.display}".encode(),
        )
        text = b"".join(
            line if line.endswith(b"\n") else line + b"\n\\ No newline at end of file\n" for line in lines
        )
        return text.decode("utf-8", "replace")


@dataclass(frozen=True)
class PinReport:
    """What ``pin_paths`` found, resolved and (unless a dry run) wrote."""

    results: tuple[PinResult, ...]
    changes: tuple[FileChange, ...]
    notes: tuple[Finding, ...] = ()
    lockfiles: tuple[Path, ...] = ()
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "images": [r.to_json() for r in self.results],
            "changed_files": [c.display for c in self.changes],
            "lockfiles": [str(p) for p in self.lockfiles],
            "notes": [n.to_json() for n in self.notes],
        }


@dataclass(frozen=True)
class CheckReport:
    """What ``check_paths`` found. ``exit_code`` is the CI verdict.

    Unpinned references (or platform problems) give 1; otherwise, with ``--fresh``, a
    moved tag gives 2 and a reference that could not be checked 3. A definite finding
    wins over "could not check".
    """

    findings: tuple[Finding, ...]
    checked: int
    files: int
    fresh: bool = False

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_error)

    @property
    def exit_code(self) -> int:
        codes = {_EXIT_BY_KIND[f.kind] for f in self.findings if f.kind in _EXIT_BY_KIND}
        for code in (EXIT_CHECK_FAILED, EXIT_TAG_MOVED, EXIT_REGISTRY):
            if code in codes:
                return code
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "files": self.files,
            "fresh": self.fresh,
            "exit_code": self.exit_code,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class RefreshChange:
    """One image whose tag now points elsewhere, and every place it was rewritten."""

    text: str  # the reference without digest, as first written, e.g. "debian:bookworm"
    name: str  # normalised repository name
    tag: str
    old: Digest
    new: Digest
    sites: tuple[Site, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.text,
            "name": self.name,
            "tag": self.tag,
            "old_digest": str(self.old),
            "new_digest": str(self.new),
            "sites": [s.to_json() for s in self.sites],
        }


@dataclass(frozen=True)
class RefreshReport:
    """What ``refresh_paths`` re-resolved and rewrote."""

    changes: tuple[RefreshChange, ...]
    file_changes: tuple[FileChange, ...]
    checked: int
    notes: tuple[Finding, ...] = ()
    lockfiles: tuple[Path, ...] = ()
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "checked": self.checked,
            "changes": [c.to_json() for c in self.changes],
            "changed_files": [c.display for c in self.file_changes],
            "lockfiles": [str(p) for p in self.lockfiles],
            "notes": [n.to_json() for n in self.notes],
        }
