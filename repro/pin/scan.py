"""Reading Dockerfiles into the list of image references ``pin`` can act on.

Every file is read and parsed before anything else happens, so a malformed Dockerfile
stops the command with its ``file:line`` before any network access and before any file
is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from repro.errors import DockerfileError, Error, UsageError
from repro.pin.discovery import find_dockerfiles
from repro.pin.model import Site
from repro.platform import Platform, parse_platforms
from repro.reference import ImageRef, parse_reference

__all__ = ["ScannedFile", "Use", "required_platforms", "scan_file", "scan_paths"]

_QUOTES = ("'", '"')


@dataclass(frozen=True)
class Use:
    """One external image reference in a file, with the bytes that name it."""

    site: Site
    #: Byte offsets of the text to rewrite: the image token, or the ARG default behind it.
    start: int
    end: int
    #: The text at those offsets.
    text: str
    #: The parsed reference (None when skipped).
    ref: ImageRef | None
    #: Why this reference is not pinned in place ("" when it is).
    skip_reason: str = ""
    #: True when the text is the default of an ARG that the FROM expands.
    via_arg: bool = False
    #: The instruction's own ``--platform`` value, as written.
    platform: str | None = None


@dataclass(frozen=True)
class ScannedFile:
    """A Dockerfile's bytes and the image references found in it."""

    path: Path
    display: str
    data: bytes
    uses: tuple[Use, ...]


def _unquote(data: bytes, start: int, end: int) -> tuple[int, int]:
    text = data[start:end]
    if len(text) >= 2 and text[:1] == text[-1:] and text[:1].decode("latin-1") in _QUOTES:
        return start + 1, end - 1
    return start, end


def scan_file(
    path: Path, *, display: str | None = None, build_args: Mapping[str, str] | None = None
) -> ScannedFile:
    """Parse ``path`` and list its external image references.

    Raises :class:`~repro.errors.DockerfileError` (``file:line: message``) when the file
    does not parse or names an image that is not a valid reference.
    """
    from repro.dockerfile import build_stage_graph, parse

    shown = display if display is not None else str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{shown}: cannot read: {exc.strerror}") from exc
    dockerfile = parse(data, filename=shown)
    graph = build_stage_graph(dockerfile, dict(build_args or {}))
    uses: list[Use] = []
    seen: set[tuple[int, int]] = set()
    for image in graph.external_images():
        via_arg = image.arg_default_span is not None
        start, end = image.arg_default_span if image.arg_default_span is not None else image.span
        start, end = _unquote(data, start, end)
        if (start, end) in seen:
            continue  # several FROMs driven by one ARG: one place to pin, reported once
        seen.add((start, end))
        # Report the line whose bytes change: for an ARG-driven FROM, the ARG's.
        line = data.count(b"\n", 0, start) + 1 if via_arg else image.line
        site = Site(shown, line, image.kind)
        text = data[start:end].decode("utf-8", "replace")
        if image.skip_reason:
            uses.append(Use(site, start, end, text, None, image.skip_reason, via_arg, image.platform))
            continue
        if "$" in text:
            # e.g. FROM debian:${VERSION}: the text that would need the digest is not the
            # whole image name, so it cannot be pinned without losing the indirection.
            value = f" (currently {image.expanded})" if image.expanded else ""
            reason = f"the image name is built from ARG values{value}; write the image in one ARG default or literally to pin it"
            uses.append(Use(site, start, end, text, None, reason, via_arg, image.platform))
            continue
        try:
            ref = parse_reference(text)
        except Error as exc:
            raise DockerfileError(f"{site}: {exc}") from exc
        uses.append(Use(site, start, end, text, ref, "", via_arg, image.platform))
    return ScannedFile(path, shown, data, tuple(uses))


def scan_paths(
    paths: Iterable[Path | str], *, build_args: Mapping[str, str] | None = None
) -> list[ScannedFile]:
    """Find and scan every Dockerfile under ``paths``.

    All files are parsed; if any fails, one :class:`~repro.errors.DockerfileError` lists
    every failure.
    """
    scanned: list[ScannedFile] = []
    failures: list[str] = []
    for path in find_dockerfiles(paths):
        try:
            scanned.append(scan_file(path, build_args=build_args))
        except DockerfileError as exc:
            failures.append(str(exc))
    if failures:
        raise DockerfileError("\n".join(failures))
    return scanned


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
