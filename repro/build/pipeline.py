"""``repro build``: check pins, pick SOURCE_DATE_EPOCH, run an engine, normalise the result.

    >>> spec = BuildSpec(context=Path("app"), output=Path("out"))   # doctest: +SKIP
    >>> result = build(spec, config=load_config(Path("app")))       # doctest: +SKIP
    >>> result.digest, result.reference                             # doctest: +SKIP
    (Digest('sha256:…'), 'oci:out:latest')

:func:`prepare` does the part that needs no engine (parse, pin check, epoch, registry
settings); :func:`run_build` does one build with one engine in a private work directory.
``repro verify`` (:mod:`repro.reproduce.verify`) calls both, twice. The engine is chosen
by :mod:`repro.build.engines` (``--engine``, ``REPRO_ENGINE``, ``[tool.repro] engine``).

One module, though over 700 lines: preparing, running and publishing a build (one platform
or several) share the spec, the work directories and the result, and are read together.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from repro.build.capabilities import FEATURES, UnsupportedFeatureError, check_capabilities
from repro.build.dockerignore import IGNORE_FILES, copy_context
from repro.build.emulation import check_emulation
from repro.build.engine import (
    BuildEvent,
    BuildRequest,
    BuildResult,
    BuildSecret,
    Engine,
    EngineOutput,
    ProgressCallback,
    RegistrySettings,
    RunOptions,
)
from repro.build.epoch import Epoch, source_date_epoch
from repro.build.preflight import check_base_platforms, check_pinned, find_unpinned
from repro.build.runenv import declare_args, run_variables
from repro.build.secrets import check_secrets
from repro.config import DEFAULT_CACHE_MAX_MB, Config, cache_directory
from repro.digest import Digest
from repro.dockerfile import StageGraph, build_stage_graph, parse
from repro.errors import BuildError, ImageError, ReferenceFormatError, UsageError
from repro.fsutil import check_writable
from repro.layers.noise import NO_NOISE, EngineNoise
from repro.layers.normcache import NormalizeCache, private_directory
from repro.layers.scrub import resolve_profiles
from repro.oci.layout import ImageLayout
from repro.platform import Platform, parse_platforms
from repro.process import Runner, run
from repro.reference import parse_reference

if TYPE_CHECKING:
    from repro.layers.createdby import BuiltStages
    from repro.pin.service import Resolver

logger = logging.getLogger(__name__)

DEFAULT_TAG = "latest"
#: SOURCE_DATE_EPOCH in seconds, as the build used it. (The config's ``created`` holds
#: it too, in RFC 3339; the normaliser drops ``org.opencontainers.image.created``.)
ANNOTATION_EPOCH = "dev.repro.source-date-epoch"
#: What buildah and podman call a Dockerfile; used when the context has no Dockerfile.
CONTAINERFILE = "Containerfile"
#: Seconds one engine run may take before it is stopped.
BUILD_TIMEOUT = 3600.0
#: How many platforms of a multi-platform build are built at once.
PLATFORM_WORKERS = 2

T = TypeVar("T")


@dataclass(frozen=True)
class BuildSpec:
    """What the user asked to build (the ``repro build`` command line, as a value).

    ``dockerfile`` defaults to ``CONTEXT/Dockerfile`` (``CONTEXT/Containerfile`` when only
    that exists); ``output`` is the OCI layout directory to write (tagged ``tag`` and each
    of ``extra_tags``), or None to keep nothing (verify without -o). ``labels`` go into the
    image config, ``annotations`` onto its manifest; ``build_contexts`` name further
    directories (``COPY --from=NAME``, ``RUN --mount=from=NAME``). ``engines`` names the
    engine(s) to build with (``--engine``; two for a cross-engine ``repro verify``); empty
    means the configured one (:mod:`repro.build.engines`).
    """

    context: Path
    output: Path | None = None
    tag: str = DEFAULT_TAG
    dockerfile: Path | None = None
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    platform: str | None = None
    scrub: tuple[str, ...] = ()
    allow_unpinned: bool = False
    #: A CA bundle every RUN step may use for TLS (mounted, never in a layer); None: the
    #: configuration's ``ca_bundle``, if any.
    ca_bundle: Path | None = None
    engines: tuple[str, ...] = ()
    secrets: tuple[BuildSecret, ...] = ()
    extra_tags: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    build_contexts: Mapping[str, Path] = field(default_factory=dict)
    #: Build from nothing: no cache of repro's is read or written (``--no-cache``).
    no_cache: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "build_args", MappingProxyType(dict(self.build_args)))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "annotations", MappingProxyType(dict(self.annotations)))
        object.__setattr__(self, "build_contexts", MappingProxyType(dict(self.build_contexts)))

    @property
    def dockerfile_path(self) -> Path:
        if self.dockerfile is not None:
            return self.dockerfile
        default = self.context / "Dockerfile"
        if not default.exists() and (self.context / CONTAINERFILE).is_file():
            return self.context / CONTAINERFILE
        return default

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag the output layout gets, ``tag`` first."""
        return tuple(dict.fromkeys((self.tag, *self.extra_tags)))


@dataclass(frozen=True)
class Prepared:
    """A checked :class:`BuildSpec`, ready to hand to an engine (any number of times)."""

    spec: BuildSpec
    context: Path
    dockerfile: Path
    graph: StageGraph
    epoch: Epoch
    registries: tuple[RegistrySettings, ...]
    auth_file: Path | None
    unpinned: tuple[str, ...]
    ca_bundle: Path | None = None
    #: repro's cache directory (private, checked); None with ``--no-cache``.
    cache_dir: Path | None = None
    #: The bound on the normalisation cache.
    cache_max_bytes: int = DEFAULT_CACHE_MAX_MB * 1024 * 1024


@dataclass(frozen=True)
class Variation:
    """How one build's environment differs from another's (see :mod:`repro.reproduce.verify`)."""

    label: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    umask: int | None = None
    copy_context: bool = False
    #: Whether the engine may reuse what earlier builds left in repro's cache (a warm
    #: build); verify's second build never does, so that it proves the first.
    warm: bool = True


def registry_settings(config: Config, graph: StageGraph) -> tuple[RegistrySettings, ...]:
    """Settings for every configured registry and every registry the Dockerfile pulls from."""
    hosts = set(config.registries)
    for use in graph.external_images():
        if use.expanded is None:
            continue
        try:
            hosts.add(parse_reference(use.expanded).domain)
        except ReferenceFormatError:
            continue
    settings = []
    for host in sorted(hosts):
        registry = config.registry(host)
        settings.append(
            RegistrySettings(
                host=host, insecure=registry.insecure, mirrors=registry.mirrors, ca_file=registry.ca_file
            )
        )
    return tuple(settings)


def docker_auth_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """Docker's config.json (``$DOCKER_CONFIG``, else ``~/.docker``) if it exists."""
    env = os.environ if environ is None else environ
    directory = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path.home() / ".docker"
    path = directory / "config.json"
    return path if path.is_file() else None


def build_platforms(spec: BuildSpec) -> tuple[str, ...]:
    """The platforms ``--platform`` names, each normalised, in the order given (empty: the
    engine's own). A platform named twice (``linux/arm64,linux/aarch64``) is refused: the
    user meant two different ones, or wrote one by mistake."""
    if not spec.platform:
        return ()
    platforms = parse_platforms(spec.platform)
    written = [item.strip() for item in spec.platform.split(",")]
    if len(platforms) != len(written):
        seen: dict[Platform, str] = {}
        for item in written:
            platform = Platform.parse(item)
            if platform in seen:
                raise UsageError(
                    f"--platform {spec.platform}: {item} is {seen[platform]} again ({platform})",
                    hint="name each platform once",
                )
            seen[platform] = item
    return tuple(str(platform) for platform in platforms)


def for_platform(prepared: Prepared, platform: str) -> Prepared:
    """``prepared`` narrowed to one of its platforms (what one engine run builds)."""
    return dataclasses.replace(prepared, spec=dataclasses.replace(prepared.spec, platform=platform))


def base_resolver(config: Config) -> AbstractContextManager[Resolver]:
    """What asks registries which platforms a pinned base image has (a registry client)."""
    from repro.registry.client import RegistryClient

    return RegistryClient(config)


def prepare(spec: BuildSpec, *, config: Config, runner: Runner = run) -> Prepared:
    """Parse and check the Dockerfile and pick the epoch; refuse unpinned images.

    Raises :class:`~repro.build.preflight.UnpinnedImageError` (unless
    ``spec.allow_unpinned``), :class:`~repro.build.preflight.BasePlatformError` (several
    platforms, one a base image lacks: the registry is asked),
    :class:`~repro.errors.DockerfileError`, or :class:`~repro.errors.UsageError` for a
    missing context or Dockerfile.
    """
    context = spec.context.resolve()
    if not context.is_dir():
        raise UsageError(f"{spec.context}: build context is not a directory")
    dockerfile = spec.dockerfile_path.resolve()
    if not dockerfile.is_file():
        raise UsageError(f"{spec.dockerfile_path}: Dockerfile not found", hint="name it with -f FILE")
    graph = build_stage_graph(
        parse(dockerfile.read_bytes(), filename=str(spec.dockerfile_path)), spec.build_args
    )
    resolve_profiles(spec.scrub)  # an unknown profile is a usage error before any build
    if spec.output is not None:
        check_writable(spec.output)  # a read-only destination fails now, not after the build
    build_platforms(spec)  # a malformed --platform or one named twice is refused before any build
    ca_bundle = spec.ca_bundle if spec.ca_bundle is not None else config.ca_bundle
    if ca_bundle is not None and not ca_bundle.is_file():
        raise UsageError(f"--ca-bundle {ca_bundle}: no such file", hint="name a PEM file of CA certificates")
    check_secrets(graph, spec.secrets, context=context, path=spec.dockerfile_path)
    if spec.target is not None and graph.stage(spec.target) is None:
        raise UsageError(f"--target {spec.target}: no stage of {spec.dockerfile_path} has that name")
    for name, directory in spec.build_contexts.items():
        if not directory.is_dir():
            raise UsageError(f"--build-context {name}={directory}: not a directory")
    contexts = set(spec.build_contexts)
    if spec.allow_unpinned:
        unpinned = tuple(str(u) for u in find_unpinned(graph, build_contexts=contexts))
        for line in unpinned:
            logger.warning("not pinned (allowed by --allow-unpinned): %s", line)
    else:
        check_pinned(graph, build_contexts=contexts)
        unpinned = ()
    platforms = build_platforms(spec)
    if len(platforms) > 1:
        with base_resolver(config) as client:
            check_base_platforms(
                dockerfile, [Platform.parse(p) for p in platforms], client=client, build_args=spec.build_args
            )
    return Prepared(
        spec=spec,
        context=context,
        dockerfile=dockerfile,
        graph=graph,
        epoch=source_date_epoch(context, runner=runner),
        registries=registry_settings(config, graph),
        auth_file=docker_auth_file(),
        unpinned=unpinned,
        ca_bundle=ca_bundle.resolve() if ca_bundle is not None else None,
        cache_dir=None if spec.no_cache else private_directory(cache_directory(config)),
        cache_max_bytes=config.cache_max_mb * 1024 * 1024,
    )


def check_engine(prepared: Prepared, engine: Engine) -> None:
    """Refuse, before any build, every Dockerfile feature ``engine`` cannot honour.

    Raises :class:`~repro.build.capabilities.UnsupportedFeatureError` naming each
    ``file:line``, :class:`~repro.build.emulation.EmulationError` naming each platform this
    machine cannot run (no emulator registered), and :class:`~repro.errors.BuildError` when
    the engine is not usable.
    """
    capabilities = engine.capabilities()
    if prepared.spec.build_contexts and not capabilities.build_contexts:
        raise UnsupportedFeatureError(
            f"--build-context is not supported by {capabilities.engine} ({FEATURES['build_contexts'].advice})"
        )
    check_capabilities(prepared.graph, capabilities, path=prepared.spec.dockerfile_path)
    platforms = [Platform.parse(platform) for platform in build_platforms(prepared.spec)]
    if platforms and not getattr(engine, "remote", False):
        # A remote daemon runs RUN steps on its own kernel, with its own emulators.
        check_emulation(platforms)


@contextmanager
def work_directory(prefix: str = "repro-build-") -> Iterator[Path]:
    """A private temporary directory, removed afterwards (engine storage can be large)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _copy_context(prepared: Prepared, destination: Path) -> tuple[Path, Path]:
    """Copy what ``.dockerignore`` lets through of the context to ``destination``; the
    Dockerfile and the ignore file always go along (the engine reads them)."""
    ignore_files = [prepared.context / name for name in IGNORE_FILES if (prepared.context / name).is_file()]
    copy_context(prepared.context, destination, always=[prepared.dockerfile, *ignore_files])
    try:
        relative = prepared.dockerfile.relative_to(prepared.context)
    except ValueError:
        dockerfile = destination.parent / f"{destination.name}.Dockerfile"
        shutil.copyfile(prepared.dockerfile, dockerfile)
        return destination, dockerfile
    return destination, destination / relative


@dataclass(frozen=True)
class Normalized:
    """What the normaliser made of an engine's layout."""

    digest: Digest
    scrubbed: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)


def built_stages(graph: StageGraph, target: str | None) -> BuiltStages:
    """The instructions of the stage ``target`` (default: the last) and of the stages it
    is built ``FROM``, root first, and the image the root starts from as ``NAME@DIGEST``
    (None for ``scratch``): what the build's own history entries describe."""
    from repro.layers.createdby import BuiltInstruction, BuiltStages

    stage = graph.stage(target) if target is not None else graph.stages[-1]
    if stage is None:
        raise UsageError(f"--target {target}: no stage has that name")
    chain = [stage]
    while chain[-1].base_stage is not None:
        chain.append(graph.stages[chain[-1].base_stage])
    root = chain[-1]
    base = None
    if not root.is_scratch and root.base_expanded is not None:
        try:
            reference = parse_reference(root.base_expanded)
        except ReferenceFormatError:
            reference = None
        if reference is not None:
            base = f"{reference.name}@{reference.digest}" if reference.digest else str(reference)
    instructions = tuple(
        BuiltInstruction(keyword=ins.keyword.upper(), text=ins.original)
        for stage in reversed(chain)
        for ins in stage.instructions
    )
    return BuiltStages(instructions=instructions, base=base)


def normalize(
    src: Path,
    dest: Path,
    *,
    tag: str,
    epoch: int,
    scrub: tuple[str, ...],
    variables: Mapping[str, str] | None = None,
    noise: EngineNoise = NO_NOISE,
    built: BuiltStages | None = None,
    cache: NormalizeCache | None = None,
) -> Normalized:
    """Normalise the engine's layout ``src`` into a new layout ``dest`` tagged ``tag``.

    ``variables`` are those the build gave RUN steps (:mod:`repro.build.runenv`); ``noise``
    is what engines write about themselves; ``built`` the instructions the build ran
    (:func:`built_stages`), so that every engine's history reads the same; ``cache``
    holds layers normalised before.
    """
    from repro.layers.normalize import normalize_layout

    result = normalize_layout(
        src,
        dest,
        tag=tag,
        source_date_epoch=epoch,
        scrub=scrub,
        run_variables=variables,
        noise=noise,
        built=built,
        cache=cache,
    )
    paths = tuple(sorted({scrubbed.path for scrubbed in result.scrubbed}))
    return Normalized(digest=result.manifest_digest, scrubbed=paths, info=result.to_json())


def _link_blobs(source: ImageLayout, target: ImageLayout) -> None:
    """Every blob of ``source`` into ``target``: a hard link where possible, else a copy."""
    for path in sorted((source.path / "blobs").glob("*/*")):
        if path.name.startswith("."):
            continue
        digest = Digest.parse(f"{path.parent.name}:{path.name}")
        if target.has_blob(digest):
            continue
        destination = target.blob_path(digest)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
        except OSError:
            target.import_blob(path, digest)


def publish(layout: Path, tag: str, output: Path, output_tag: str) -> None:
    """Add the image ``tag`` of ``layout`` to the layout at ``output`` as ``output_tag``."""
    source = ImageLayout.open(layout)
    target = ImageLayout.create(output)
    _link_blobs(source, target)
    target.set_tag(output_tag, source.find(tag))


def run_build(
    prepared: Prepared,
    workdir: Path,
    *,
    engine: Engine,
    variation: Variation | None = None,
    progress: ProgressCallback | None = None,
) -> BuildResult:
    """One ``engine`` build of ``prepared`` in ``workdir``, normalised into ``workdir/image``.

    The result's layout is ``workdir/image``; :func:`publish` copies it elsewhere.
    """
    variation = variation or Variation()
    spec = prepared.spec
    started = time.monotonic()

    epoch = prepared.epoch
    variables = run_variables(epoch.value, ca_bundle=prepared.ca_bundle is not None)
    declaration = f"ARG {' '.join(variables)}"

    def report(event: BuildEvent) -> None:
        if progress is None:
            return
        if event.kind == "step":
            event = _without_declaration(event, declaration)
            if event.step == 0:
                return
        progress(dataclasses.replace(event, build=variation.label) if variation.label else event)

    context, dockerfile = prepared.context, prepared.dockerfile
    build_contexts = {name: directory.resolve() for name, directory in spec.build_contexts.items()}
    if variation.copy_context:
        context, dockerfile = _copy_context(prepared, workdir / "context")
        for index, (name, directory) in enumerate(sorted(build_contexts.items())):
            build_contexts[name] = workdir / f"build-context-{index}"
            copy_context(directory, build_contexts[name])
    # The engine builds a copy that declares the RUN variables in every stage (see runenv).
    declared = workdir / "Dockerfile.repro"
    declared.write_bytes(declare_args(dockerfile.read_bytes(), variables, filename=str(dockerfile)))
    raw = workdir / "engine-output"
    built = built_stages(prepared.graph, spec.target)
    request = BuildRequest(
        context=context,
        dockerfile=declared,
        output=raw,
        tag=spec.tag,
        source_date_epoch=epoch.value,
        target=spec.target,
        build_args={**spec.build_args, **variables},
        platforms=build_platforms(spec),
        secrets=spec.secrets,
        registries=prepared.registries,
        auth_file=prepared.auth_file,
        annotations={**spec.annotations, ANNOTATION_EPOCH: str(epoch.value)},
        labels=spec.labels,
        build_contexts=build_contexts,
        timeout=BUILD_TIMEOUT,
        ca_bundle=prepared.ca_bundle,
        base=built.base,
    )
    warm = prepared.cache_dir is not None and variation.warm
    # One warm storage per platform: in a shared one, buildah reuses a base image or layer
    # of another platform (an arm64 build came out amd64 when both shared a base layer).
    storage = (request.platform or "native").replace("/", "-")
    options = RunOptions(
        workdir=workdir / "engine",
        environment=variation.environment,
        umask=variation.umask,
        cache_dir=prepared.cache_dir / "engines" / engine.name / storage
        if warm and prepared.cache_dir
        else None,
        cache_max_bytes=prepared.cache_max_bytes,
    )
    output: EngineOutput = engine.build(request, options, progress=report)
    report(BuildEvent(kind="phase", text="normalising", elapsed=time.monotonic() - started))
    image = workdir / "image"
    from repro.build.engines import engine_noise

    noise = engine_noise() | engine.noise()
    cache = None
    if prepared.cache_dir is not None:
        cache = NormalizeCache.open(prepared.cache_dir / "normalize", max_bytes=prepared.cache_max_bytes)
    normalized = normalize(
        raw,
        image,
        tag=spec.tag,
        epoch=epoch.value,
        scrub=spec.scrub,
        variables=variables,
        noise=noise,
        built=built,
        cache=cache,
    )
    shutil.rmtree(options.workdir, ignore_errors=True)  # engine storage: no longer needed
    return BuildResult(
        digest=normalized.digest,
        layout=image,
        tag=spec.tag,
        source_date_epoch=epoch.value,
        epoch_source=epoch.source,
        engine=output.engine,
        duration=time.monotonic() - started,
        scrubbed=normalized.scrubbed,
        scrub_profiles=spec.scrub,
        normalizer=normalized.info,
        unpinned=prepared.unpinned,
        capabilities=engine.capabilities(),
        platform=request.platform,
    )


def build_each_platform(
    prepared: Prepared,
    workdir: Path,
    *,
    engine: Engine,
    variation: Variation | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> tuple[BuildResult, ...]:
    """One :func:`run_build` per platform of ``prepared``, in ``workdir/platform-N``, ``workers``
    at a time (default :data:`PLATFORM_WORKERS`); results in the order given."""
    variation = variation or Variation()
    jobs: list[Callable[[], BuildResult]] = []
    for number, platform in enumerate(build_platforms(prepared.spec)):
        directory = workdir / f"platform-{number}"
        directory.mkdir()
        label = f"{variation.label} {platform}" if variation.label else platform
        jobs.append(
            functools.partial(
                run_build,
                for_platform(prepared, platform),
                directory,
                engine=engine,
                variation=dataclasses.replace(variation, label=label),
                progress=progress,
            )
        )
    return tuple(run_concurrently(jobs, workers=PLATFORM_WORKERS if workers is None else workers))


def run_concurrently(jobs: Sequence[Callable[[], T]], *, workers: int, stagger: float = 0.0) -> list[T]:
    """The results of ``jobs``, in order, ``workers`` at a time; ``stagger`` seconds apart
    when concurrent. The first failure is raised once every started job has ended."""
    if workers <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="repro-build") as pool:
        futures: list[Future[T]] = []
        for job in jobs:
            if futures and stagger:
                time.sleep(stagger)
            futures.append(pool.submit(job))
        errors = [future.exception() for future in futures]
    for error in errors:
        if error is not None:
            raise error
    return [future.result() for future in futures]


def combine_builds(
    results: Sequence[BuildResult], output: Path, tags: Sequence[str], *, duration: float
) -> BuildResult:
    """The per-platform ``results`` as one image index in ``output``, tagged with ``tags``."""
    from repro.images.index import combine_platforms

    for result in results:
        config = ImageLayout.open(result.layout).image(result.tag).config
        try:
            built = Platform.from_oci(config)
        except UsageError as exc:
            raise ImageError(
                f"the image built for {result.platform} does not say its platform: {exc}"
            ) from exc
        if result.platform is None or built != Platform.parse(result.platform):
            raise BuildError(
                f"asked for {result.platform}, {result.engine} built an image for {built}",
                hint="a base image that exists for one platform only is used for every platform: "
                "pin a multi-platform base (repro pin --platform A,B checks it)",
            )
    descriptor = combine_platforms([result.layout for result in results], output, tag=tags[0])
    layout = ImageLayout.open(output)
    for tag in tags[1:]:
        layout.set_tag(tag, descriptor)
    first = results[0]
    return dataclasses.replace(
        first,
        digest=descriptor.digest,
        layout=output,
        tag=tags[0],
        duration=duration,
        scrubbed=tuple(sorted({path for result in results for path in result.scrubbed})),
        normalizer={},
        platform=None,
        platforms=tuple(dataclasses.replace(result, layout=output, tag=tags[0]) for result in results),
    )


def _without_declaration(event: BuildEvent, declaration: str) -> BuildEvent:
    """A step event numbered as in the user's Dockerfile: the declaration repro added as
    step 2 of every stage is not shown (its event comes back with step 0)."""
    if event.step == 2 and event.instruction.startswith(declaration):
        return dataclasses.replace(event, step=0)
    if event.steps < 2:
        return event
    return dataclasses.replace(event, step=event.step - (event.step > 2), steps=event.steps - 1)


def engines_for(spec: BuildSpec, config: Config) -> list[Engine]:
    """The engines ``spec`` names (else the configured one), made from their settings."""
    from repro.build.engines import choose_engine_names, create_engine

    return [create_engine(name, config=config) for name in choose_engine_names(spec.engines, config=config)]


def build(
    spec: BuildSpec,
    *,
    config: Config,
    engine: Engine | None = None,
    progress: ProgressCallback | None = None,
    runner: Runner = run,
) -> BuildResult:
    """Build ``spec`` once with ``engine`` (default: the one ``spec`` or ``config`` names)
    and write the normalised image to ``spec.output``: one image manifest, or for a list of
    platforms an image index of one manifest per platform (each built on its own).

    Returns the :class:`BuildResult` with ``layout`` set to ``spec.output``.
    """
    if spec.output is None:
        raise UsageError("repro build needs an output: -o oci:DIR[:TAG]")
    if engine is None:
        chosen = engines_for(spec, config)
        if len(chosen) != 1:
            raise UsageError(
                f"repro build builds with one engine, got {', '.join(spec.engines)}",
                hint="compare engines with repro verify --engines A,B",
            )
        engine = chosen[0]
    prepared = prepare(spec, config=config, runner=runner)
    check_engine(prepared, engine)
    started = time.monotonic()
    with work_directory() as workdir:
        if len(build_platforms(spec)) > 1:
            results = build_each_platform(prepared, workdir, engine=engine, progress=progress)
            result = combine_builds(results, spec.output, spec.tags, duration=time.monotonic() - started)
        else:
            result = run_build(prepared, workdir, engine=engine, progress=progress)
            for tag in spec.tags:
                publish(result.layout, result.tag, spec.output, tag)
    if ImageLayout.open(spec.output).find(spec.tag).digest != result.digest:
        raise ImageError(f"{spec.output}: the image tagged {spec.tag} is not the one just built")
    return dataclasses.replace(result, layout=spec.output)


__all__ = [
    "ANNOTATION_EPOCH",
    "BuildSpec",
    "Prepared",
    "Variation",
    "build",
    "build_each_platform",
    "build_platforms",
    "check_engine",
    "combine_builds",
    "engines_for",
    "for_platform",
    "prepare",
    "publish",
    "run_build",
]
