"""What a release's provenance says about its source, and the statements a release signs.

The source is read from the build context, never assumed: the git commit checked out
(with the remote's URL, credentials stripped, when there is one), whether the work tree
inside the context differs from that commit, and the in-toto ``dirHash`` of what the
build was sent of the context (the files its ``.dockerignore`` lets through). A dirty
work tree is refused by ``repro release`` unless ``--allow-dirty``, and then the
provenance says so.

    source = inspect_source(Path("app"))
    source.git.dirty if source.git else None   # tracked changes or untracked files?
    source.context.dir_hash                    # what was built, whatever git says

``dirHash`` is in-toto's digest of a file tree (Go's dirhash ``Hash1`` in hex): the
SHA-256 of the lines ``<sha256 of the file>  <path>\\n`` of every regular file, sorted
by path, the same as ``find . -type f | cut -c3- | LC_ALL=C sort | xargs -r sha256sum |
sha256sum`` run in a copy of the context without its ``.git`` and without what its
``.dockerignore`` (or ``.containerignore``) leaves out; the ignore file itself counts,
as it decides what is built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from repro.attest.statements import (
    BaseImage,
    BuildContext,
    ProvenanceInputs,
    ReproducibilityInputs,
    SourceContext,
    Statement,
    cosign_signature_statement,
    cyclonedx_statement,
    image_subjects,
    reproducibility_statement,
    slsa_provenance,
)
from repro.errors import Error
from repro.process import Runner, run

if TYPE_CHECKING:
    from repro.build.engine import BuildResult
    from repro.digest import Digest

logger = logging.getLogger(__name__)

_USERINFO: Final = re.compile(r"^([a-z][a-z0-9+.-]*://)[^@/]*@", re.IGNORECASE)
_READ_CHUNK: Final = 1024 * 1024


@dataclass(frozen=True)
class SourceState:
    """The build context as found: its git checkout (None outside git) and its digest."""

    git: SourceContext | None
    context: BuildContext

    @property
    def dirty(self) -> bool:
        return self.git is not None and self.git.dirty


def context_dir_hash(context: Path, *, exclude: Iterable[Path] = ()) -> BuildContext:
    """The in-toto ``dirHash`` of the regular files of ``context`` that a build is sent.

    Files the context's ``.dockerignore`` leaves out are not hashed (changing them changes
    nothing that is built); ``.git`` directories and the paths in ``exclude`` (repro's own
    outputs, when they are inside the context) are left out too; symbolic links are not
    followed and not hashed, like ``find -type f``.
    """
    from repro.build.dockerignore import IGNORE_FILES, DockerIgnore, included_files, read_ignore_file

    root = context.resolve()
    skipped = {p.resolve() for p in exclude}
    # .git is never hashed (it changes with every commit); last pattern wins, so it is
    # left out whatever exceptions the ignore file has, and never walked.
    ignore = read_ignore_file(root)
    ignore = DockerIgnore(ignore.patterns + DockerIgnore.parse(".git\n**/.git\n").patterns)
    sent = set(included_files(root, ignore))
    # The ignore file decides what is sent, so its text is part of what was built.
    sent.update(name for name in IGNORE_FILES if (root / name).is_file())
    files: list[tuple[bytes, str]] = []
    for relative in sent:
        path = root / relative
        parts = relative.split("/")
        if ".git" in parts or path.is_symlink() or not path.is_file():
            continue
        if path in skipped or any(parent in skipped for parent in path.parents):
            continue
        files.append((os.fsencode(relative), _file_sha256(path)))
    summary = hashlib.sha256()
    for relative_bytes, digest in sorted(files):
        summary.update(f"{digest}  ".encode() + relative_bytes + b"\n")
    return BuildContext(summary.hexdigest(), len(files))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def git_source(context: Path, runner: Runner = run, *, exclude: Iterable[Path] = ()) -> SourceContext | None:
    """The context's git checkout: HEAD's commit, the origin URL (without credentials) if
    any, and the paths inside the context that differ from HEAD (changed, staged or
    untracked; ignored files are not counted, ``exclude`` paths neither). None outside git,
    and when the commit tracks no file of the context.
    """

    def git(*args: str) -> str | None:
        try:
            completed = runner(["git", "-C", str(context), *args], timeout=60, check=False)
        except Error:
            return None
        if completed.returncode != 0:
            return None
        return completed.stdout.decode("utf-8", "replace")

    commit = (git("rev-parse", "--verify", "-q", "HEAD^{commit}") or "").strip()
    if not commit:
        return None
    if not git("ls-files", "-z", "--", "."):
        # Nothing in the context is tracked (an ignored or new directory inside some
        # checkout): the commit says nothing about what is built.
        return None
    url = (git("config", "--get", "remote.origin.url") or "").strip() or None
    excludes = [f":(exclude){p}" for p in _relative_paths(context, exclude)]
    status = git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".", *excludes)
    if status is None:
        # A checkout whose state cannot be read is not known to be clean.
        return SourceContext(_USERINFO.sub(r"\1", url) if url else None, commit, dirty=True, changed=("?",))
    changed = _porcelain_paths(status)
    return SourceContext(
        repository=_USERINFO.sub(r"\1", url) if url else None,
        commit=commit,
        dirty=bool(changed),
        changed=tuple(changed),
    )


def _relative_paths(context: Path, paths: Iterable[Path]) -> list[str]:
    root = context.resolve()
    found = []
    for path in paths:
        try:
            found.append(path.resolve().relative_to(root).as_posix())
        except ValueError:
            continue  # outside the context: nothing to leave out
    return [p for p in found if p not in ("", ".")]


def _porcelain_paths(status: str) -> list[str]:
    """Paths of ``git status --porcelain=v1 -z`` (a rename's second field is its origin)."""
    fields = status.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":
            i += 1  # the path it was renamed or copied from
    return paths


def inspect_source(context: Path, runner: Runner = run, *, exclude: Iterable[Path] = ()) -> SourceState:
    """Read the context's git state and digest it (see the module documentation)."""
    exclude = tuple(exclude)
    return SourceState(
        git=git_source(context, runner, exclude=exclude),
        context=context_dir_hash(context, exclude=exclude),
    )


def base_images(dockerfile: Path, build_args: Mapping[str, str]) -> tuple[BaseImage, ...]:
    """Every external image of the Dockerfile that is pinned, by the reference written."""
    from repro.dockerfile import build_stage_graph, parse
    from repro.reference import parse_reference

    graph = build_stage_graph(parse(dockerfile.read_bytes(), filename=str(dockerfile)), build_args)
    found: dict[str, BaseImage] = {}
    for use in graph.external_images():
        if use.expanded is None:
            continue
        try:
            ref = parse_reference(use.expanded)
        except Error:
            continue
        if ref.digest is not None:
            found.setdefault(use.expanded, BaseImage(use.expanded, ref.digest))
    return tuple(found.values())


@dataclass(frozen=True)
class ReleaseBuild:
    """What a release built and how: everything its statements say."""

    name: str
    digest: Digest
    builds: tuple[BuildResult, BuildResult]
    started: datetime
    finished: datetime
    dockerfile: str
    source: SourceState | None = None
    base_images: tuple[BaseImage, ...] = ()
    target: str | None = None
    platforms: tuple[str, ...] = ()
    build_args: Mapping[str, str] | None = None


def release_statements(build: ReleaseBuild, sbom: bytes) -> list[Statement]:
    """The statements a release signs: SLSA provenance, the SBOM, reproducibility, and the
    image signature cosign looks for (``https://sigstore.dev/cosign/sign/v1``)."""
    from repro.reproduce.verify import VARIATIONS

    first, second = build.builds
    subjects = image_subjects(build.name, build.digest)
    provenance = slsa_provenance(
        subjects,
        ProvenanceInputs(
            dockerfile=build.dockerfile,
            started_on=build.started,
            finished_on=build.finished,
            target=build.target,
            platforms=build.platforms,
            build_args=dict(build.build_args or {}),
            context=build.source.git if build.source else None,
            build_context=build.source.context if build.source else None,
            base_images=build.base_images,
            source_date_epoch=first.source_date_epoch,
            build_digests=(first.digest, second.digest),
            scrubbed=first.scrubbed,
            engines={**first.engine.versions(), **second.engine.versions()},
            engine_names=(first.engine.name, second.engine.name),
        ),
    )
    variations = {
        v.label: {
            "environment": dict(v.environment),
            "umask": f"{v.umask:04o}" if v.umask is not None else None,
            "copyContext": v.copy_context,
        }
        for v in VARIATIONS
    }
    normalizer = {
        key: str(value)
        for key, value in first.normalizer.items()
        if isinstance(value, str | int) and not isinstance(value, bool)
    }
    reproducible = reproducibility_statement(
        subjects,
        ReproducibilityInputs(
            digests=(first.digest, second.digest),
            variations=variations,
            source_date_epoch=first.source_date_epoch,
            normalizer=normalizer,
        ),
    )
    return [
        provenance,
        cyclonedx_statement(subjects, sbom),
        reproducible,
        cosign_signature_statement(subjects),
    ]


def index_release_statements(
    build: ReleaseBuild, images: Mapping[str, Digest], *, engines: Sequence[BuildResult] = ()
) -> list[Statement]:
    """The statements a multi-platform release signs about its image index (``build.digest``):
    SLSA provenance whose subject is the index, listing the image manifest of each platform
    (``images``, platform -> digest) among its byproducts, and the cosign signature of the
    index. Each platform image has its own :func:`release_statements`; ``engines`` are the
    builds of every platform (their engine versions go into the builder's version).
    """
    first, _ = build.builds
    versions: dict[str, str] = {}
    for result in engines or build.builds:
        versions.update(result.engine.versions())
    subjects = image_subjects(build.name, build.digest)
    provenance = slsa_provenance(
        subjects,
        ProvenanceInputs(
            dockerfile=build.dockerfile,
            started_on=build.started,
            finished_on=build.finished,
            target=build.target,
            platforms=tuple(images),
            build_args=dict(build.build_args or {}),
            context=build.source.git if build.source else None,
            build_context=build.source.context if build.source else None,
            base_images=build.base_images,
            source_date_epoch=first.source_date_epoch,
            engines=versions,
            engine_names=tuple(dict.fromkeys(r.engine.name for r in (engines or build.builds))),
            images=dict(images),
        ),
    )
    return [provenance, cosign_signature_statement(subjects)]


def dirty_summary(source: SourceContext, limit: int = 5) -> str:
    """``3 paths: a.txt, b/c.py, new.txt`` for messages."""
    shown: Sequence[str] = source.changed[:limit]
    more = len(source.changed) - len(shown)
    return f"{len(source.changed)} path(s): {', '.join(shown)}" + (f" and {more} more" if more else "")


__all__ = [
    "ReleaseBuild",
    "SourceState",
    "base_images",
    "context_dir_hash",
    "dirty_summary",
    "git_source",
    "index_release_statements",
    "inspect_source",
    "release_statements",
]
