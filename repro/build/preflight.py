"""Checks made before an engine starts: every external image must be pinned to a digest.

A ``FROM debian:bookworm`` builds on whatever the tag points at that day, so two builds
of the same commit need not start from the same bytes. ``repro build`` refuses such a
file (unless ``--allow-unpinned``) and names each ``file:line``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from repro.dockerfile import ImageUse, StageGraph
from repro.errors import ReferenceFormatError, UsageError
from repro.reference import parse_reference

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
