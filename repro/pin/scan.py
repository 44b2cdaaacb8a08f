"""Reading Dockerfiles into the list of image references ``pin`` can act on.

Each file is its own unit: one that cannot be read or parsed is reported (``file:line:
reason``) and the others are still scanned. Files a directory search found that are not
Dockerfiles at all (a ``Dockerfile.go``, a template full of placeholders, a file with no
``FROM``) are passed over with a note; named on the command line, they are failures.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import EXIT_DOCKERFILE, EXIT_USAGE, DockerfileError, Error, UsageError
from repro.pin.discovery import Candidate, discover, not_a_dockerfile_name
from repro.pin.model import Site
from repro.platform import Platform, parse_platforms
from repro.reference import ImageRef, parse_reference

__all__ = ["Scan", "ScannedFile", "Unscanned", "Use", "required_platforms", "scan_file", "scan_paths"]

_QUOTES = ("'", '"')
# Placeholders of the template languages Dockerfile templates are written in: Jinja,
# Go templates, Mustache ({{ }}, {% %}), ERB (<% %>), and %%VAR%% / @VAR@ substitution.
_PLACEHOLDER_RE = re.compile(rb"\{\{|\{%|<%|%%[A-Za-z_]+%%|@[A-Z_]+@")
_FROM_RE = re.compile(rb"^[ \t]*from(?:[ \t\r]|$)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Use:
    """One external image reference in a file, with the bytes that name it."""

    site: Site
    #: Byte offsets of the text to rewrite: the image token, or the ARG default behind it.
    start: int
    end: int
    #: The text at those offsets.
    text: str
    #: The parsed reference (None when it cannot be pinned in place, or is invalid).
    ref: ImageRef | None
    #: Why this reference is not pinned in place ("" when it is).
    skip_reason: str = ""
    #: True when the text is the default of an ARG that the FROM expands.
    via_arg: bool = False
    #: The instruction's own ``--platform`` value, as written.
    platform: str | None = None
    #: True when the image is not a valid reference (an error for every gate).
    invalid: bool = False
    #: The image after ARG expansion, when known.
    expanded: str | None = None
    #: False when ``ref`` comes from ARG values (already pinned) and cannot be rewritten.
    rewritable: bool = True
    #: The digest is appended to ``text`` (an ARG default that ends the image, or an
    #: image token that follows ARGs) instead of the whole reference replacing it.
    append: bool = False


@dataclass(frozen=True)
class ScannedFile:
    """A Dockerfile's bytes and the image references found in it."""

    path: Path
    display: str
    data: bytes
    uses: tuple[Use, ...]
    #: ``FILE:LINE: message``: what BuildKit may refuse but touches no image reference.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unscanned:
    """A file that was not scanned: passed over (``skipped``) or failed, and why."""

    path: Path
    display: str
    line: int
    reason: str
    #: The exit code this failure alone would give.
    exit_code: int
    #: Passed over on purpose (not a Dockerfile): a note, not work left undone.
    skipped: bool = False

    @property
    def site(self) -> Site:
        return Site(self.display, self.line, "file")


@dataclass
class Scan:
    """Every file found: those scanned, those not (and why), and near misses of the search."""

    files: list[ScannedFile] = field(default_factory=list)
    unscanned: list[Unscanned] = field(default_factory=list)
    passed_over: list[tuple[str, str]] = field(default_factory=list)

    @property
    def found(self) -> int:
        return len(self.files) + len(self.unscanned)


def _unquote(data: bytes, start: int, end: int) -> tuple[int, int]:
    text = data[start:end]
    if len(text) >= 2 and text[:1] == text[-1:] and text[:1].decode("latin-1") in _QUOTES:
        return start + 1, end - 1
    return start, end


def _line_of(message: str, display: str) -> int:
    match = re.match(re.escape(display) + r":(\d+):", message)
    return int(match.group(1)) if match else 0


def scan_file(
    path: Path,
    *,
    display: str | None = None,
    build_args: Mapping[str, str] | None = None,
    data: bytes | None = None,
) -> ScannedFile:
    """Parse ``path`` and list its external image references.

    Raises :class:`~repro.errors.DockerfileError` (``file:line: message``) when the file
    cannot be read or does not parse. An invalid image reference is not an error here: its
    :class:`Use` says so (``invalid``), so that the other references are still pinned.
    """
    from repro.dockerfile import build_stage_graph, parse, read_dockerfile

    shown = display if display is not None else str(path)
    if data is None:
        data = read_dockerfile(path, display=shown)
    dockerfile = parse(data, filename=shown, lenient=True)
    graph = build_stage_graph(dockerfile, dict(build_args or {}), lenient=True)
    uses: list[Use] = []
    seen: dict[tuple[int, int], str | None] = {}
    shared: set[tuple[int, int]] = set()
    for image in graph.external_images():
        via_arg = image.arg_default_span is not None
        start, end = image.arg_default_span if image.arg_default_span is not None else image.span
        start, end = _unquote(data, start, end)
        if (start, end) in seen:
            # Several images driven by one ARG: one place to pin, reported once; unless
            # they are different images, which one default cannot pin.
            if seen[(start, end)] == image.expanded:
                continue
            shared.add((start, end))
        seen[(start, end)] = image.expanded
        # Report the line whose bytes change: for an ARG-driven FROM, the ARG's.
        line = data.count(b"\n", 0, start) + 1 if via_arg else image.line
        site = Site(shown, line, image.kind)
        text = data[start:end].decode("utf-8", "replace")

        base = Use(site, start, end, text, None, "", via_arg, image.platform, expanded=image.expanded)
        use = functools.partial(dataclasses.replace, base)

        if image.skip_reason:
            uses.append(use(skip_reason=image.skip_reason))
            continue
        if image.append:
            # Renovate's way: the digest goes at the end of the ARG default (or of the
            # image token) so that the expanded image reads name:tag@digest.
            try:
                ref = parse_reference(image.expanded or "")
            except Error as exc:
                uses.append(use(skip_reason=str(exc), invalid=True))
                continue
            uses.append(use(ref=ref, append=True))
            continue
        if "$" in text:
            # e.g. FROM debian:${VERSION}: the text that would need the digest is not the
            # whole image name, so it cannot be pinned without losing the indirection.
            value = f" (currently {image.expanded})" if image.expanded else ""
            reason = (
                f"the image name is built from ARG values{value}; write the image in one ARG default "
                "or literally to pin it"
            )
            expanded = _parse_or_none(image.expanded)
            if expanded is not None and expanded.digest is not None:
                # Already pinned through the ARGs: nothing to rewrite, and nothing missing.
                uses.append(use(ref=expanded, rewritable=False))
            else:
                uses.append(use(skip_reason=reason))
            continue
        try:
            ref = parse_reference(text)
        except Error as exc:
            uses.append(use(skip_reason=str(exc), invalid=True))
            continue
        uses.append(use(ref=ref))
    return ScannedFile(path, shown, data, _unshare(uses, shared), tuple(graph.warnings))


def _unshare(uses: list[Use], shared: set[tuple[int, int]]) -> tuple[Use, ...]:
    """Uses whose one place to pin supplies several different images cannot be pinned."""
    why = "one ARG default supplies several different images; write each image literally to pin it"
    return tuple(
        dataclasses.replace(use, ref=None, skip_reason=why, append=False)
        if (use.start, use.end) in shared
        else use
        for use in uses
    )


def _parse_or_none(text: str | None) -> ImageRef | None:
    if text is None:
        return None
    try:
        return parse_reference(text)
    except Error:
        return None


def _outside(candidate: Candidate) -> str:
    """Why ``candidate`` is a link that leaves its tree ("" when it is not)."""
    if not candidate.path.is_symlink() and not any(p.is_symlink() for p in candidate.path.parents):
        return ""
    target = Path(os.path.realpath(candidate.path))
    root = Path(os.path.realpath(candidate.root))
    if target == root or root in target.parents:
        return ""
    return f"a symbolic link to {target}, outside {candidate.root}: not followed"


def _not_a_dockerfile(data: bytes, error: DockerfileError | None, has_invalid: bool) -> str:
    """Why a file found by a search is not a Dockerfile at all ("" when it is one)."""
    if not _FROM_RE.search(data):
        return "no FROM instruction: not a Dockerfile"
    if (error is not None or has_invalid) and _PLACEHOLDER_RE.search(data):
        return "a template with placeholders, not a Dockerfile"
    return ""


def _scan_candidate(candidate: Candidate, build_args: Mapping[str, str] | None, scan: Scan) -> None:
    from repro.dockerfile import read_dockerfile

    path, shown = candidate.path, str(candidate.path)
    if not candidate.explicit and (why := not_a_dockerfile_name(path.name)):
        scan.unscanned.append(Unscanned(path, shown, 0, why, EXIT_USAGE, skipped=True))
        return
    if why := _outside(candidate):
        scan.unscanned.append(Unscanned(path, shown, 0, why, EXIT_USAGE))
        return
    try:
        data = read_dockerfile(path, display=shown)
    except DockerfileError as exc:
        scan.unscanned.append(
            Unscanned(path, shown, 0, exc.message.removeprefix(f"{shown}: "), exc.exit_code)
        )
        return
    error: DockerfileError | None = None
    scanned: ScannedFile | None = None
    try:
        scanned = scan_file(path, display=shown, build_args=build_args, data=data)
    except DockerfileError as exc:
        error = exc
    if not candidate.explicit:
        has_invalid = scanned is not None and any(use.invalid for use in scanned.uses)
        if why := _not_a_dockerfile(data, error, has_invalid):
            scan.unscanned.append(Unscanned(path, shown, 0, why, EXIT_DOCKERFILE, skipped=True))
            return
    if error is not None:
        line = _line_of(error.message, shown)
        reason = error.message.removeprefix(f"{shown}:{line}: ") if line else error.message
        scan.unscanned.append(Unscanned(path, shown, line, reason, EXIT_DOCKERFILE))
        return
    if scanned is not None:
        scan.files.append(scanned)


def scan_paths(paths: Iterable[Path | str], *, build_args: Mapping[str, str] | None = None) -> Scan:
    """Find and scan every Dockerfile under ``paths``, each on its own.

    Raises :class:`~repro.errors.UsageError` only for a path that does not exist; every
    problem with one file is in :attr:`Scan.unscanned`.
    """
    discovery = discover(paths)
    scan = Scan(passed_over=list(discovery.passed_over))
    for candidate in discovery.candidates:
        _scan_candidate(candidate, build_args, scan)
    return scan


def required_platforms(use: Use, targets: Sequence[Platform]) -> tuple[Platform, ...]:
    """The platforms ``use``'s image must provide.

    A literal ``--platform`` on the instruction wins; ``$BUILDPLATFORM`` (and the
    ``# syntax=`` frontend) run on the build machine, whatever it is, so they require
    nothing; otherwise the build's ``targets``.
    """
    if use.site.kind == "syntax":
        return ()
    if use.platform:
        if "BUILDPLATFORM" in use.platform:
            return ()
        if "$" not in use.platform:
            try:
                return parse_platforms(use.platform)
            except UsageError as exc:
                raise DockerfileError(f"{use.site}: {exc}") from exc
    return tuple(targets)
