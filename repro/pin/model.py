"""The results of ``pin``, ``check`` and ``refresh`` as plain values.

The library returns these; :mod:`repro.pin.render` turns them into text, JSON, GitHub
annotations or Markdown at the edge, so a later stage can add to a report (say, which
packages changed with a new base image) without touching how it was produced.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.digest import Digest
from repro.errors import (
    EXIT_CHECK_FAILED,
    EXIT_NOTHING_CHECKED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REGISTRY,
    EXIT_TAG_MOVED,
)
from repro.platform import Platform

__all__ = [
    "Action",
    "CheckReport",
    "FileChange",
    "FileOutcome",
    "FileStatus",
    "FindingKind",
    "PinFinding",
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
    INVALID = "invalid"  # exit 1: not a valid image reference
    MOVED = "moved"  # exit 2 (--fresh)
    REGISTRY = "registry"  # exit 3 (--fresh): could not check
    FAILED = "failed"  # a file or reference left undone (unreadable, malformed, unresolved)
    NOTE = "note"  # never changes the exit code: non-Dockerfiles passed over, lock out of step


_EXIT_BY_KIND = {
    FindingKind.UNPINNED: EXIT_CHECK_FAILED,
    FindingKind.PLATFORM: EXIT_CHECK_FAILED,
    FindingKind.INVALID: EXIT_CHECK_FAILED,
    FindingKind.MOVED: EXIT_TAG_MOVED,
    FindingKind.REGISTRY: EXIT_REGISTRY,
}


@dataclass(frozen=True)
class PinFinding:
    """A problem (or a note) about one site."""

    site: Site
    kind: FindingKind
    message: str
    #: The image text as written.
    text: str = ""
    #: For a ``FAILED`` finding: the exit code its cause alone would give (3 for a
    #: registry error, 4 for a malformed Dockerfile).
    cause_exit_code: int | None = None

    @property
    def is_error(self) -> bool:
        return self.kind is not FindingKind.NOTE

    def to_json(self) -> dict[str, Any]:
        return {**self.site.to_json(), "kind": str(self.kind), "message": self.message, "text": self.text}


class FileStatus(enum.StrEnum):
    """What became of one file."""

    PINNED = "pinned"  # written (pin: references pinned or updated; refresh: digests moved)
    UNCHANGED = "unchanged"  # nothing to change (or, for check, checked)
    SKIPPED = "skipped"  # passed over on purpose (not a Dockerfile, a link out of the tree)
    FAILED = "failed"  # some or all of it left undone (see reason)


@dataclass(frozen=True)
class FileOutcome:
    """One file's status, and why when it was skipped or failed."""

    file: str
    status: FileStatus
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "status": str(self.status), "reason": self.reason}


def _any_done(files: tuple[FileOutcome, ...]) -> bool:
    return any(f.status in (FileStatus.PINNED, FileStatus.UNCHANGED) for f in files)


def undone_exit_code(failures: tuple[PinFinding, ...], *, done: bool) -> int:
    """The exit code for work left undone: 0 when none; the cause's own code when nothing
    at all was done and every failure had the same cause; else the "partial" code."""
    if not failures:
        return EXIT_OK
    codes = {f.cause_exit_code for f in failures}
    if not done and len(codes) == 1:
        (code,) = codes
        if code is not None:
            return code
    return EXIT_PARTIAL


def _files_json(files: tuple[FileOutcome, ...]) -> list[dict[str, Any]]:
    return [f.to_json() for f in files]


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
        import difflib  # here: pin --check never diffs, and its start-up counts

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
    notes: tuple[PinFinding, ...] = ()
    lockfiles: tuple[Path, ...] = ()
    dry_run: bool = False
    #: Every file looked at, in order, with its status.
    files: tuple[FileOutcome, ...] = ()
    #: Every file and reference left undone, as ``FAILED`` findings.
    failures: tuple[PinFinding, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def exit_code(self) -> int:
        """0 when everything asked for happened, else see :func:`undone_exit_code`."""
        done = _any_done(self.files) or any(r.action is not Action.SKIPPED for r in self.results)
        return undone_exit_code(self.failures, done=done)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "files": _files_json(self.files),
            "failures": [f.to_json() for f in self.failures],
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

    findings: tuple[PinFinding, ...]
    checked: int
    files: int
    fresh: bool = False
    #: Every file looked at, with its status (``files`` counts those checked).
    outcomes: tuple[FileOutcome, ...] = ()
    #: Finding no Dockerfile at all passes (else it is exit 9).
    allow_empty: bool = False

    @property
    def empty(self) -> bool:
        """Nothing was checked: no Dockerfile was found (or every one was passed over)."""
        return not any(o.status is not FileStatus.SKIPPED for o in self.outcomes)

    @property
    def errors(self) -> tuple[PinFinding, ...]:
        return tuple(f for f in self.findings if f.is_error)

    @property
    def failures(self) -> tuple[PinFinding, ...]:
        return tuple(f for f in self.findings if f.kind is FindingKind.FAILED)

    @property
    def exit_code(self) -> int:
        codes = {_EXIT_BY_KIND[f.kind] for f in self.findings if f.kind in _EXIT_BY_KIND}
        for code in (EXIT_CHECK_FAILED, EXIT_TAG_MOVED, EXIT_REGISTRY):
            if code in codes:
                return code
        if self.empty and not self.allow_empty:
            return EXIT_NOTHING_CHECKED
        return undone_exit_code(self.failures, done=_any_done(self.outcomes))

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "files": self.files,
            "fresh": self.fresh,
            "exit_code": self.exit_code,
            "findings": [f.to_json() for f in self.findings],
            "file_status": _files_json(self.outcomes),
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
    notes: tuple[PinFinding, ...] = ()
    lockfiles: tuple[Path, ...] = ()
    dry_run: bool = False
    files: tuple[FileOutcome, ...] = ()
    failures: tuple[PinFinding, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def exit_code(self) -> int:
        return undone_exit_code(self.failures, done=_any_done(self.files))

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "files": _files_json(self.files),
            "failures": [f.to_json() for f in self.failures],
            "checked": self.checked,
            "changes": [c.to_json() for c in self.changes],
            "changed_files": [c.display for c in self.file_changes],
            "lockfiles": [str(p) for p in self.lockfiles],
            "notes": [n.to_json() for n in self.notes],
        }
