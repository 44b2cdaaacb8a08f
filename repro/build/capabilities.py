"""What an engine can build: the Dockerfile features it honours, declared, never assumed.

Every engine states its :class:`Capabilities`; before any work the pipeline walks the
parsed Dockerfile with :func:`check_capabilities` and refuses every use of a feature the
engine would drop or change, one ``FILE:LINE`` per use:

    >>> from repro.dockerfile import parse
    >>> df = parse(b"FROM busybox\\nRUN <<EOF\\necho hi\\nEOF\\n")
    >>> caps = Capabilities(engine="buildah 1.28.2")
    >>> [str(use) for use in find_unsupported(df, caps, path="Dockerfile")]  # doctest: +NORMALIZE_WHITESPACE
    ['Dockerfile:2: a heredoc (RUN <<EOF) is not supported by buildah 1.28.2 (write the script to a
    file in the build context, COPY it and RUN it)']

A field is True only where repro, building with that engine, gives the image the
Dockerfile describes; everything unknown is False, so a new feature is refused until an
engine is shown to honour it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from repro.build.mounts import run_mounts
from repro.dockerfile import Dockerfile, Instruction, StageGraph
from repro.errors import UsageError

# ADD sources BuildKit fetches with git: git@host:repo, git://, ssh://, and http(s) URLs
# whose path ends in .git (a "#ref[:subdir]" fragment may follow).
_GIT_URL_RE = re.compile(r"^(?:git@[^:]+:|git://|ssh://|https?://[^#]*\.git(?:#.*)?$)")


@dataclass(frozen=True)
class Capabilities:
    """The Dockerfile features one engine builds faithfully through repro, and which
    engine that is (``engine``: name and version, e.g. ``buildah 1.28.2``)."""

    engine: str
    heredocs: bool = False
    secrets: bool = False
    ssh: bool = False
    cache_mounts: bool = False
    bind_mounts: bool = False
    tmpfs_mounts: bool = False
    healthcheck: bool = False
    shell: bool = False
    stopsignal: bool = False
    onbuild: bool = False
    add_checksum: bool = False
    add_git: bool = False
    copy_link: bool = False
    copy_chmod: bool = False
    copy_parents: bool = False
    copy_exclude: bool = False
    run_network: bool = False
    run_security: bool = False
    multi_platform: bool = False
    build_contexts: bool = False  # --build-context NAME=DIR

    def supported(self) -> tuple[str, ...]:
        """The names of the features this engine honours."""
        return tuple(f.name for f in fields(self) if f.name != "engine" and getattr(self, f.name))


@dataclass(frozen=True)
class Feature:
    """How one capability is named to a user, and what to write instead."""

    name: str  # the Capabilities field
    label: str
    advice: str


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature(
            "heredocs", "a heredoc", "write the script to a file in the build context, COPY it and RUN it"
        ),
        Feature(
            "secrets",
            "RUN --mount=type=secret",
            "use an engine that mounts secrets; never pass a secret as a build argument",
        ),
        Feature(
            "ssh",
            "RUN --mount=type=ssh",
            "repro forwards no SSH agent: put the sources in the build context at a pinned commit, "
            "or fetch them with a token from --secret",
        ),
        Feature("cache_mounts", "RUN --mount=type=cache", "remove the cache mount: every build starts empty"),
        Feature("bind_mounts", "RUN --mount=type=bind", "COPY the files into the stage instead"),
        Feature(
            "tmpfs_mounts", "RUN --mount=type=tmpfs", "delete what the step writes there in the same RUN"
        ),
        Feature(
            "healthcheck",
            "HEALTHCHECK",
            "set the check when the container runs: docker run --health-cmd …",
        ),
        Feature(
            "shell",
            "SHELL",
            'name the shell in exec form instead: RUN ["/bin/bash", "-c", "…"], CMD ["/bin/bash", "-c", "…"]',
        ),
        Feature("stopsignal", "STOPSIGNAL", "set it when the container runs: docker run --stop-signal …"),
        Feature("onbuild", "ONBUILD", "write the instructions into the Dockerfiles that build on this image"),
        Feature(
            "add_checksum",
            "ADD --checksum",
            "vendor the file into the build context and COPY it, or download it in a RUN step and "
            "check it with sha256sum -c",
        ),
        Feature(
            "add_git",
            "ADD of a git repository",
            "check the repository out at a pinned commit into the build context and COPY it",
        ),
        Feature("copy_link", "--link", "drop --link: it changes how layers are cached, not what they hold"),
        Feature("copy_chmod", "--chmod", "RUN chmod after the COPY"),
        Feature("copy_parents", "COPY --parents", "COPY each directory to its destination path"),
        Feature("copy_exclude", "--exclude", "leave the files out with .dockerignore"),
        Feature("run_network", "RUN --network", "remove --network; the step runs with the engine's network"),
        Feature(
            "run_security", "RUN --security", "remove --security=insecure; privileged steps are not built"
        ),
        Feature(
            "build_contexts",
            "--build-context",
            "copy the directory into the build context and COPY it from there",
        ),
        Feature(
            "multi_platform",
            "more than one platform",
            "build one platform at a time: --platform OS/ARCH",
        ),
    )
}


class UnsupportedFeatureError(UsageError):
    """The Dockerfile uses a feature the chosen engine cannot build faithfully."""

    default_hint = "change the lines shown, or build with an engine that supports them"


@dataclass(frozen=True)
class UnsupportedUse:
    """One use of a feature the engine does not honour, and where."""

    filename: str
    line: int
    feature: str  # a Capabilities field
    detail: str  # the use, e.g. "a heredoc (RUN <<EOF)"
    engine: str
    elsewhere: tuple[str, ...] = ()  # engines (name version) that support it

    def __str__(self) -> str:
        advice = FEATURES[self.feature].advice
        if self.elsewhere:
            advice = f"{advice}; supported by {', '.join(self.elsewhere)}"
        return f"{self.filename}:{self.line}: {self.detail} is not supported by {self.engine} ({advice})"


def _uses(ins: Instruction, filename: str) -> Iterable[tuple[str, str]]:
    """(feature, detail) for each use of a capability in one instruction."""
    keyword = ins.keyword
    if ins.heredocs and keyword != "ONBUILD":  # a trigger's heredoc runs in a later build
        yield "heredocs", f"a heredoc ({keyword} <<{ins.heredocs[0].name})"
    if keyword == "RUN":
        for mount in run_mounts(ins, filename=filename):
            feature = {
                "secret": "secrets",
                "ssh": "ssh",
                "cache": "cache_mounts",
                "bind": "bind_mounts",
                "tmpfs": "tmpfs_mounts",
            }[mount.type]
            yield feature, f"RUN --mount=type={mount.type}"
        if ins.flag_values("network"):
            yield "run_network", "RUN --network"
        if ins.flag_values("security"):
            yield "run_security", "RUN --security"
    elif keyword in ("HEALTHCHECK", "SHELL", "STOPSIGNAL", "ONBUILD"):
        yield keyword.lower(), keyword
    elif keyword in ("COPY", "ADD"):
        if ins.flag_values("link"):
            yield "copy_link", f"{keyword} --link"
        if ins.flag_values("chmod"):
            yield "copy_chmod", f"{keyword} --chmod"
        if ins.flag_values("parents"):
            yield "copy_parents", f"{keyword} --parents"
        if ins.flag_values("exclude"):
            yield "copy_exclude", f"{keyword} --exclude"
        if keyword == "ADD":
            if ins.flag_values("checksum"):
                yield "add_checksum", "ADD --checksum"
            sources = [arg.text for arg in ins.arguments[:-1]] if not ins.heredocs else []
            if ins.flag_values("keep-git-dir") or any(_GIT_URL_RE.match(src) for src in sources):
                yield "add_git", "ADD of a git repository"


def find_unsupported(
    dockerfile: Dockerfile | StageGraph,
    capabilities: Capabilities,
    *,
    path: str | Path | None = None,
    alternatives: Sequence[Capabilities] = (),
) -> list[UnsupportedUse]:
    """Every use in ``dockerfile`` of a feature ``capabilities`` does not have, in file order.

    ``path`` names the file in messages (default: the name it was parsed with);
    ``alternatives`` are other engines' capabilities, named where they support a feature.
    """
    df = dockerfile.dockerfile if isinstance(dockerfile, StageGraph) else dockerfile
    filename = str(path) if path is not None else df.filename
    found: list[UnsupportedUse] = []
    for ins in df.instructions:
        for feature, detail in _uses(ins, filename):
            if getattr(capabilities, feature):
                continue
            elsewhere = tuple(alt.engine for alt in alternatives if getattr(alt, feature))
            found.append(
                UnsupportedUse(filename, ins.start_line, feature, detail, capabilities.engine, elsewhere)
            )
    return found


def check_capabilities(
    dockerfile: Dockerfile | StageGraph,
    capabilities: Capabilities,
    *,
    path: str | Path | None = None,
    alternatives: Sequence[Capabilities] = (),
) -> None:
    """Raise :class:`UnsupportedFeatureError` listing every use the engine cannot honour."""
    unsupported = find_unsupported(dockerfile, capabilities, path=path, alternatives=alternatives)
    if not unsupported:
        return
    if len(unsupported) == 1:
        raise UnsupportedFeatureError(str(unsupported[0]))
    listing = "\n".join(f"  {use}" for use in unsupported)
    raise UnsupportedFeatureError(
        f"{len(unsupported)} Dockerfile features are not supported by {capabilities.engine}:\n{listing}"
    )


__all__ = [
    "FEATURES",
    "Capabilities",
    "Feature",
    "UnsupportedFeatureError",
    "UnsupportedUse",
    "check_capabilities",
    "find_unsupported",
]
