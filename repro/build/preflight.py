"""Checks made before an engine starts: every external image must be pinned to a digest,
and for several platforms, exist for each of them.

A ``FROM debian:bookworm`` builds on whatever the tag points at that day, so two builds
of the same commit need not start from the same bytes. ``repro build`` refuses such a
file (unless ``--allow-unpinned``) and names each ``file:line``.

An engine given ``--platform linux/arm64`` and a base pinned to a single amd64 manifest
builds on it anyway and labels the result arm64; :func:`check_base_platforms` refuses
that before building (with the check ``repro pin --check --platform A,B`` makes).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from repro.dockerfile import ImageUse, StageGraph
from repro.errors import ReferenceFormatError, RegistryError, UsageError
from repro.platform import Platform
from repro.reference import parse_reference

if TYPE_CHECKING:
    from repro.pin.service import Resolver

_KIND_LABEL = {
    "from": "FROM",
    "copy-from": "COPY --from",
    "mount-from": "RUN --mount from=",
    "syntax": "# syntax=",
}


class UnpinnedImageError(UsageError):
    """The Dockerfile pulls an image by a tag, not by a digest."""

    default_hint = "run 'repro pin' to pin every image to its digest, or pass --allow-unpinned"


@dataclass(frozen=True)
class Unpinned:
    """One external image that is not pinned, and where it is named."""

    filename: str
    line: int
    kind: str
    image: str
    reason: str = ""

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.filename}:{self.line}: {_KIND_LABEL.get(self.kind, self.kind)} {self.image}{why}"


def _unpinned(use: ImageUse, filename: str) -> Unpinned | None:
    if use.expanded is None:
        # The file alone does not say which image this is, so nothing shows it is pinned.
        return Unpinned(filename, use.line, use.kind, use.text, use.skip_reason or "cannot be resolved")
    try:
        ref = parse_reference(use.expanded)
    except ReferenceFormatError as exc:
        return Unpinned(filename, use.line, use.kind, use.expanded, str(exc))
    return None if ref.is_pinned else Unpinned(filename, use.line, use.kind, use.expanded)


def find_unpinned(graph: StageGraph, *, build_contexts: Collection[str] = ()) -> list[Unpinned]:
    """Every external image of ``graph`` that is not pinned to a digest, in file order.

    ``build_contexts`` are the names given with ``--build-context NAME=DIR``: a
    ``COPY --from=NAME`` reads that directory, no image.
    """
    filename = graph.dockerfile.filename
    return [
        u
        for use in graph.external_images()
        if not (use.kind != "from" and use.expanded in build_contexts)
        and (u := _unpinned(use, filename)) is not None
    ]


def check_pinned(graph: StageGraph, *, build_contexts: Collection[str] = ()) -> None:
    """Raise :class:`UnpinnedImageError` listing each unpinned image, if there is one."""
    unpinned = find_unpinned(graph, build_contexts=build_contexts)
    if unpinned:
        listing = "\n".join(f"  {u}" for u in unpinned)
        raise UnpinnedImageError(
            f"{len(unpinned)} image(s) not pinned to a digest; a build from a tag is not reproducible:\n"
            f"{listing}"
        )


class BasePlatformError(UsageError):
    """A base image the build uses does not exist for a platform the build targets."""

    default_hint = (
        "pin an image index that has every platform: repro pin --update --platform A,B "
        "(or build only the platforms the base has)"
    )


def check_base_platforms(
    dockerfile: Path,
    platforms: Sequence[Platform],
    *,
    client: Resolver,
    build_args: Mapping[str, str] | None = None,
) -> None:
    """Refuse, naming each ``file:line``, a pinned image that lacks one of ``platforms``
    (an index without it, or a single-platform manifest for several platforms).

    The registry is asked for what no ``repro.lock`` records. Raises
    :class:`BasePlatformError`, or :class:`~repro.errors.RegistryError` when a registry
    cannot tell.
    """
    from repro.pin import FindingKind, check_paths

    report = check_paths([dockerfile], client=client, platforms=platforms, build_args=build_args)
    missing = [f for f in report.findings if f.kind is FindingKind.PLATFORM]
    if missing:
        listing = "\n".join(f"  {f.site}: {f.message}" for f in missing)
        targets = ", ".join(map(str, platforms))
        raise BasePlatformError(
            f"{len(missing)} image(s) do not exist for every platform of {targets}:\n{listing}"
        )
    unknown = [f for f in report.findings if f.kind is FindingKind.REGISTRY]
    if unknown:
        raise RegistryError("\n".join(f"{f.site}: {f.message}" for f in unknown))
