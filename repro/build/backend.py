"""The interface every build engine implements, and the values that cross it.

A backend turns a :class:`BuildRequest` (context, Dockerfile, epoch, registries…) into an
OCI image layout on disk and reports an :class:`EngineOutput`. It knows nothing about
normalisation or verification: :func:`repro.build.build` adds those and returns a
:class:`BuildResult`. A new engine is a new module with a class that satisfies
:class:`Backend`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from repro.digest import Digest

if TYPE_CHECKING:
    from repro.build.capabilities import Capabilities


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class RegistrySettings:
    """What the engine needs to know about one registry host it may pull from."""

    host: str
    insecure: bool = False
    mirrors: tuple[str, ...] = ()
    ca_file: Path | None = None


@dataclass(frozen=True)
class BuildSecret:
    """A secret a ``RUN --mount=type=secret,id=ID`` step may read: the file ``source`` or
    the environment variable ``env`` of the process that starts the build."""

    id: str
    source: Path | None = None
    env: str | None = None


@dataclass(frozen=True)
class BuildRequest:
    """One build, fully specified: the same request must give the same image.

    ``workdir`` is a private, empty directory the backend may fill (storage, generated
    configuration); the caller removes it. ``environment`` adds variables to the
    engine's environment (verify varies ``TZ``, ``LANG``, ``LC_ALL`` through it) and
    ``umask`` sets the engine's umask (None: inherit).
    """

    context: Path
    dockerfile: Path
    output: Path
    tag: str
    source_date_epoch: int
    workdir: Path
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    platform: str | None = None
    registries: tuple[RegistrySettings, ...] = ()
    auth_file: Path | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    umask: int | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    #: A CA bundle to mount read-only at :data:`repro.layers.leftovers.CA_BUNDLE_MOUNT` in
    #: RUN steps (never into a layer); the variables pointing at it come as build args.
    ca_bundle: Path | None = None
    secrets: tuple[BuildSecret, ...] = ()
    #: Labels for the image config; further named build contexts (NAME -> directory).
    labels: Mapping[str, str] = field(default_factory=dict)
    build_contexts: Mapping[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "build_contexts", MappingProxyType(dict(self.build_contexts)))
        object.__setattr__(self, "build_args", _frozen(self.build_args))
        object.__setattr__(self, "environment", _frozen(self.environment))
        object.__setattr__(self, "annotations", _frozen(self.annotations))


EventKind = Literal["step", "output", "phase"]


@dataclass(frozen=True)
class BuildEvent:
    """Progress of a build: a new instruction (``step``), a raw engine output line
    (``output``), or one of repro's own phases (``phase``: normalising, comparing…).

    For a step, ``stage``/``stages`` count the Dockerfile's stages being built (1/1 for a
    single-stage build) and ``step``/``steps`` the instructions of that stage;
    ``instruction`` is the instruction as the engine printed it. ``build`` names the
    build when several run at once (``A``, ``B``).
    """

    kind: EventKind
    text: str
    elapsed: float
    stage: int = 0
    stages: int = 0
    step: int = 0
    steps: int = 0
    instruction: str = ""
    build: str = ""


ProgressCallback = Callable[[BuildEvent], None]

# buildah prints "STEP 2/5: COPY a /a", prefixed with "[1/2] " in a multi-stage build.
_STEP_RE = re.compile(r"^(?:\[(\d+)/(\d+)\] )?STEP (\d+)/(\d+): (.*)$")


def parse_step(line: str, elapsed: float) -> BuildEvent | None:
    """The step event a ``STEP n/m: …`` line announces, else None."""
    match = _STEP_RE.match(line)
    if match is None:
        return None
    stage, stages, step, steps, instruction = match.groups()
    return BuildEvent(
        kind="step",
        text=line,
        elapsed=elapsed,
        stage=int(stage or 1),
        stages=int(stages or 1),
        step=int(step),
        steps=int(steps),
        instruction=instruction,
    )


@dataclass(frozen=True)
class EngineOutput:
    """What a backend made: an OCI layout (not yet normalised) and how."""

    layout: Path
    tag: str
    engine: str
    engine_version: str
    duration: float
    command: tuple[str, ...]
    steps: int


@dataclass(frozen=True)
class BuildResult:
    """A finished, normalised build.

    ``digest`` is the manifest digest of the image tagged ``tag`` in the layout at
    ``layout``; ``scrubbed`` lists the paths the normaliser removed or rewrote, and
    ``normalizer`` what else it reported.
    """

    digest: Digest
    layout: Path
    tag: str
    source_date_epoch: int
    epoch_source: str
    engine: str
    engine_version: str
    duration: float
    scrubbed: tuple[str, ...] = ()
    scrub_profiles: tuple[str, ...] = ()
    normalizer: Mapping[str, Any] = field(default_factory=dict)
    unpinned: tuple[str, ...] = ()
    #: What the engine declared it can build (the Dockerfile was checked against it).
    capabilities: Capabilities | None = None

    @property
    def reference(self) -> str:
        """``oci:DIR:TAG``"""
        return f"oci:{self.layout}:{self.tag}"

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": str(self.digest),
            "layout": str(self.layout),
            "tag": self.tag,
            "reference": self.reference,
            "source_date_epoch": self.source_date_epoch,
            "epoch_source": self.epoch_source,
            "engine": {"name": self.engine, "version": self.engine_version},
            "duration_seconds": round(self.duration, 3),
            "scrub_profiles": list(self.scrub_profiles),
            "scrubbed": list(self.scrubbed),
            "normalizer": dict(self.normalizer),
            "unpinned": list(self.unpinned),
        }


class Backend(Protocol):
    """A container build engine."""

    #: The engine's name, e.g. ``buildah``.
    name: str

    def version(self) -> str:
        """The engine's version (``1.28.2``); raises BuildError when it is not usable."""
        ...

    def capabilities(self) -> Capabilities:
        """The Dockerfile features this engine builds faithfully (checked before any build)."""
        ...

    def build(self, request: BuildRequest, *, progress: ProgressCallback | None = None) -> EngineOutput:
        """Build ``request`` into ``request.output`` (an OCI layout tagged ``request.tag``).

        Raises :class:`~repro.errors.BuildError` when the build fails.
        """
        ...
