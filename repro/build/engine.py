"""The interface every build engine implements, and the values that cross it.

An engine turns a portable :class:`BuildRequest` (context, Dockerfile, target, build
arguments, platforms, secrets, labels, epoch, registries) into an OCI image layout on
disk and reports an :class:`EngineOutput` naming itself (:class:`EngineIdentity`). How it
runs is its own business: a local process (buildah) honours the :class:`RunOptions` of
the run (private work directory, environment, umask); a daemon (Docker) takes its own
settings when it is created. It knows nothing about normalisation or verification:
:func:`repro.build.build` adds those and returns a :class:`BuildResult`.

A new engine is one module with a class that satisfies :class:`Engine`, one entry in
:data:`repro.build.engines.ENGINES`, and its tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from repro.digest import Digest

if TYPE_CHECKING:
    from repro.build.capabilities import Capabilities
    from repro.layers.noise import EngineNoise


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
    """A secret a ``RUN --mount=type=secret,id=ID`` step may read: from the file ``source``
    or the environment variable ``env`` of the process that starts the build."""

    id: str
    source: Path | None = None
    env: str | None = None


@dataclass(frozen=True)
class BuildRequest:
    """One build, fully specified and engine-independent: the same request must give the
    same image on every engine that can build it.

    ``platforms`` empty means the engine's own platform. ``labels`` are added to the image
    config, ``annotations`` to the manifest.
    """

    context: Path
    dockerfile: Path
    output: Path
    tag: str
    source_date_epoch: int
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    registries: tuple[RegistrySettings, ...] = ()
    auth_file: Path | None = None
    timeout: float | None = None
    #: A CA bundle to mount read-only at :data:`repro.layers.leftovers.CA_BUNDLE_MOUNT` in
    #: RUN steps (never into a layer); the variables pointing at it come as build args.
    ca_bundle: Path | None = None
    secrets: tuple[BuildSecret, ...] = ()
    #: Labels for the image config; further named build contexts (NAME -> directory).
    labels: Mapping[str, str] = field(default_factory=dict)
    build_contexts: Mapping[str, Path] = field(default_factory=dict)
    #: The image the built stage starts from, ``NAME@DIGEST`` (a tag when unpinned builds
    #: are allowed), None for ``scratch``: an engine that pulls by itself checks it got it.
    base: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "build_contexts", MappingProxyType(dict(self.build_contexts)))
        object.__setattr__(self, "build_args", _frozen(self.build_args))
        object.__setattr__(self, "annotations", _frozen(self.annotations))

    @property
    def platform(self) -> str | None:
        """The one platform asked for (None: the engine's own)."""
        return self.platforms[0] if self.platforms else None


@dataclass(frozen=True)
class RunOptions:
    """How one run of a local engine process is set up (verify varies these).

    ``workdir`` is a private, empty directory the engine may fill (storage, generated
    configuration); the caller removes it. ``environment`` adds variables to the engine
    process's environment and ``umask`` sets its umask (None: inherit). An engine whose
    builds run elsewhere (a daemon) cannot vary the build's environment through them and
    says so in :meth:`Engine.varies`. ``cache_dir`` is a private directory that outlives
    the run, where the engine may keep what makes the next build of the same steps fast
    (buildah: its storage, layers reused); None: start from nothing, as verify's second
    build always does. An engine may ignore it.
    """

    workdir: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    umask: int | None = None
    cache_dir: Path | None = None
    #: The bound on what the engine keeps in ``cache_dir`` (None: unbounded).
    cache_max_bytes: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "environment", _frozen(self.environment))


@dataclass(frozen=True)
class EngineIdentity:
    """Which engine built an image: ``name`` and ``version`` (``buildah``, ``1.28.2``) and,
    for an engine made of parts, each part's version (``{"docker": "20.10.24",
    "buildkit": "v0.8.2"}``). Taken from the engine's own output, never assumed."""

    name: str
    version: str
    components: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "components", _frozen(self.components))

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def versions(self) -> dict[str, str]:
        """Every part's version by name, the engine itself first (provenance records these)."""
        return {self.name: self.version, **self.components}

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.components:
            obj["components"] = dict(self.components)
        return obj


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


@dataclass(frozen=True)
class EngineOutput:
    """What an engine made: an OCI layout (not yet normalised), by whom and how."""

    layout: Path
    tag: str
    engine: EngineIdentity
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
    engine: EngineIdentity
    duration: float
    scrubbed: tuple[str, ...] = ()
    scrub_profiles: tuple[str, ...] = ()
    normalizer: Mapping[str, Any] = field(default_factory=dict)
    unpinned: tuple[str, ...] = ()
    #: What the engine declared it can build (the Dockerfile was checked against it).
    capabilities: Capabilities | None = None
    #: The platform built for, when one was asked (``--platform``); None for an index.
    platform: str | None = None
    #: For a multi-platform build, ``digest`` is an image index and these are the builds
    #: of its platforms, in index order (each ``digest`` a manifest in that index).
    platforms: tuple[BuildResult, ...] = ()

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
            "engine": self.engine.to_json(),
            "duration_seconds": round(self.duration, 3),
            "scrub_profiles": list(self.scrub_profiles),
            "scrubbed": list(self.scrubbed),
            "normalizer": dict(self.normalizer),
            "unpinned": list(self.unpinned),
            **({"platform": self.platform} if self.platform is not None else {}),
            **({"platforms": [p.platform_json() for p in self.platforms]} if self.platforms else {}),
        }

    def platform_json(self) -> dict[str, Any]:
        """This build as one platform of an index: no layout or tag of its own."""
        obj = self.to_json()
        for key in ("layout", "tag", "reference"):
            del obj[key]
        return obj


class Engine(Protocol):
    """A container build engine."""

    #: The engine's registry name, e.g. ``buildah``.
    name: str

    def identity(self) -> EngineIdentity:
        """Name and versions, asked of the engine; raises BuildError when it is not usable."""
        ...

    def capabilities(self) -> Capabilities:
        """The Dockerfile features this engine builds faithfully."""
        ...

    def noise(self) -> EngineNoise:
        """What this engine writes about itself into an image (never user content), for the
        normaliser to remove."""
        ...

    def varies(self) -> frozenset[str]:
        """Which :class:`RunOptions` settings reach the build (``environment``, ``umask``)."""
        ...

    def build(
        self, request: BuildRequest, options: RunOptions, *, progress: ProgressCallback | None = None
    ) -> EngineOutput:
        """Build ``request`` into ``request.output`` (an OCI layout tagged ``request.tag``).

        Raises :class:`~repro.errors.BuildError` when the build fails.
        """
        ...
