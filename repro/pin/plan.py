"""``repro plan``: one ``repro release`` job per Dockerfile, as a GitHub Actions matrix.

The Dockerfiles are the ones ``repro pin`` works on (:mod:`repro.pin.discovery` and
:mod:`repro.pin.scan`: the same names, the same skipped directories, the same files passed
over as not Dockerfiles, each file once), in the same stable order; a file pin could not
read or parse fails the plan. Each
becomes one entry: the Dockerfile, its build context (the Dockerfile's directory) and the
image to release it as, rendered from a pattern::

    >>> plan = plan_releases(["services"], pattern="ghcr.io/acme/{name}:1.0")   # doctest: +SKIP
    >>> plan.matrix()                                                            # doctest: +SKIP
    {'include': [{'context': 'services/api', 'dockerfile': 'services/api/Dockerfile',
                  'image': 'ghcr.io/acme/api:1.0', 'name': 'api'}, ...]}

The pattern's placeholders: ``{name}`` is the Dockerfile's directory name, with
``-VARIANT`` for ``Dockerfile.VARIANT``, ``Containerfile.VARIANT`` or
``VARIANT.Dockerfile``; ``{path}`` is the directory relative to the searched directory
(the searched directory itself: its own name), with the same suffix. Both are lower-cased
and every character a repository name cannot hold becomes ``-``. Two Dockerfiles that
would be released as the same image are refused, never silently merged.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from repro.errors import DockerfileError, NothingCheckedError, ReferenceFormatError, UsageError
from repro.pin.discovery import Candidate, discover
from repro.pin.scan import scan_paths

__all__ = [
    "DEFAULT_PATTERN",
    "MAX_MATRIX_JOBS",
    "PLACEHOLDERS",
    "PlannedRelease",
    "ReleasePlan",
    "plan_releases",
]

#: The image a Dockerfile is released as when no pattern is given: its name alone.
DEFAULT_PATTERN: Final = "{name}"
PLACEHOLDERS: Final = ("name", "path")
#: GitHub Actions runs at most this many jobs from one matrix.
MAX_MATRIX_JOBS: Final = 256

_NOT_IN_A_NAME: Final = re.compile(r"[^a-z0-9._/-]+")
_SEPARATORS: Final = re.compile(r"[._-]+")


@dataclass(frozen=True)
class PlannedRelease:
    """One ``repro release CONTEXT -f DOCKERFILE --image IMAGE`` job."""

    name: str
    dockerfile: str
    context: str
    image: str

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "dockerfile": self.dockerfile,
            "context": self.context,
            "image": self.image,
        }


@dataclass(frozen=True)
class ReleasePlan:
    """The releases, in discovery order, and what the search passed over (``(path, why)``)."""

    releases: tuple[PlannedRelease, ...]
    passed_over: tuple[tuple[str, str], ...] = ()

    def matrix(self) -> dict[str, list[dict[str, str]]]:
        """The GitHub Actions ``strategy.matrix`` value: ``{"include": [...]}``."""
        return {"include": [release.to_json() for release in self.releases]}


def _variant(filename: str) -> str:
    """``dev`` for ``Dockerfile.dev``, ``Containerfile.dev`` and ``dev.Dockerfile``; else ``""``."""
    for base in ("Dockerfile", "Containerfile"):
        if filename == base:
            return ""
        if filename.startswith(base + "."):
            return filename[len(base) + 1 :]
    return filename.removesuffix(".Dockerfile")


def _clean(text: str) -> str:
    """``text`` as a repository path: lower case, only the characters a name may hold."""
    # A path component is [a-z0-9]+ joined by ".", "_", "__" or a run of "-" (Docker's
    # grammar); any other run of separators becomes one "-".
    cleaned = _NOT_IN_A_NAME.sub("-", text.lower())
    parts = []
    for raw in cleaned.split("/"):
        part = _SEPARATORS.sub(_separator, raw).strip("._-")
        if part:
            parts.append(part)
    return "/".join(parts)


def _separator(match: re.Match[str]) -> str:
    run = match.group()
    return run if run in (".", "_", "__") or set(run) == {"-"} else "-"


def _fields(candidate: Candidate) -> dict[str, str]:
    directory = candidate.path.parent
    root = candidate.root
    if directory == root or candidate.explicit:
        # The searched directory itself (or a file named alone): its own name, resolved so
        # that "." names the directory rather than nothing.
        relative = Path(os.path.realpath(directory)).name
    else:
        relative = directory.relative_to(root).as_posix()
    dirname = PurePosixPath(relative).name
    variant = _variant(candidate.path.name)
    suffix = f"-{variant}" if variant else ""
    return {"name": _clean(dirname + suffix), "path": _clean(relative + suffix)}


def _check_pattern(pattern: str) -> frozenset[str]:
    """The placeholders ``pattern`` uses; an unknown one is a usage error."""
    used: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as err:
        raise UsageError(f"--image {pattern!r}: {err}", hint="write a literal brace as {{ or }}") from err
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in PLACEHOLDERS or spec or conversion:
            raise UsageError(
                f"--image {pattern!r}: unknown placeholder {{{field_name}}}",
                hint="the placeholders are {name} (the Dockerfile's directory) and {path} "
                "(that directory relative to the searched one)",
            )
        used.add(field_name)
    return frozenset(used)


def _image(pattern: str, used: frozenset[str], fields: Mapping[str, str], dockerfile: str) -> str:
    from repro.reference import parse_reference

    if any(not fields[name] for name in used):
        raise UsageError(
            f"{dockerfile}: its directory gives no usable image name",
            hint="name the image with a pattern without {name}/{path}, or rename the directory",
        )
    image = pattern.format_map(fields)
    try:
        ref = parse_reference(image)
    except ReferenceFormatError as err:
        raise UsageError(
            f"{dockerfile}: --image {pattern!r} gives {image!r}, not an image name: {err}",
            hint="write REGISTRY/NAMESPACE/{name}:TAG (lower-case repository, valid tag)",
        ) from err
    if ref.digest is not None:
        raise UsageError(f"--image {pattern!r}: a digest is what each release produces; give NAME[:TAG]")
    return image


def plan_releases(
    paths: Iterable[Path | str], *, pattern: str = DEFAULT_PATTERN, allow_empty: bool = False
) -> ReleasePlan:
    """One planned release per Dockerfile under ``paths``, in discovery order.

    Raises :class:`~repro.errors.UsageError` for an unknown placeholder, an image that is
    not a valid name, two Dockerfiles released as one image, or more Dockerfiles than one
    GitHub matrix runs; :class:`~repro.errors.DockerfileError` for a file repro pin could not
    read or parse; :class:`~repro.errors.NothingCheckedError` when nothing was found (unless
    ``allow_empty``).
    """
    used = _check_pattern(pattern)
    paths = list(paths)
    # The files repro pin works on: found by the same search, and read by the same scan,
    # which passes over what is not a Dockerfile (Dockerfile.md, a file without FROM).
    found = discover(paths)
    scan = scan_paths(paths)
    passed_over = [*scan.passed_over, *((u.display, u.reason) for u in scan.unscanned if u.skipped)]
    failed = [u for u in scan.unscanned if not u.skipped]
    if failed:
        raise DockerfileError(
            "cannot plan a release for "
            + "; ".join(f"{u.display}{f':{u.line}' if u.line else ''}: {u.reason}" for u in failed),
            hint="fix these files or move them out of the tree (repro pin --check reports the same)",
        )
    scanned = {file.path for file in scan.files}
    candidates = [candidate for candidate in found.candidates if candidate.path in scanned]
    if not candidates and not allow_empty:
        skipped = "".join(f"\n  {path}: skipped: {why}" for path, why in passed_over)
        where = ", ".join(str(p) for p in paths) or "."
        raise NothingCheckedError(f"no Dockerfile found under {where}: nothing to release{skipped}")
    releases: list[PlannedRelease] = []
    claimed: dict[str, str] = {}
    for candidate in candidates:
        dockerfile = candidate.path.as_posix()
        fields = _fields(candidate)
        image = _image(pattern, used, fields, dockerfile)
        if image in claimed:
            raise UsageError(
                f"{claimed[image]} and {dockerfile} would both be released as {image}",
                hint="use {path} in --image (the directory relative to the searched one), "
                "or plan the two directories separately",
            )
        claimed[image] = dockerfile
        releases.append(
            PlannedRelease(
                name=fields["name"],
                dockerfile=dockerfile,
                context=candidate.path.parent.as_posix(),
                image=image,
            )
        )
    if len(releases) > MAX_MATRIX_JOBS:
        raise UsageError(
            f"{len(releases)} Dockerfiles: a GitHub Actions matrix runs at most {MAX_MATRIX_JOBS} jobs",
            hint="plan each part of the tree in its own job (repro plan DIR), one matrix each",
        )
    return ReleasePlan(tuple(releases), tuple(passed_over))
