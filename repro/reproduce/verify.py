"""``repro verify``: build the same input twice, independently, and compare the digests.

The two builds use one engine twice, or two different engines once each (``--engines
buildah,docker``): two independent implementations agreeing on every byte is a stronger
proof than one engine agreeing with itself. The two builds share nothing: each gets its own copy of the context at a different path,
its own engine storage, and a different environment (time zone, locale, umask, where
the engine runs the build in a local process); the clock differs by itself. The first
build may start from the engine storage earlier builds left in repro's cache (a warm
build, as ``repro build`` does); the second always starts from empty storage, so a stale
cached layer shows up as a difference. Identical engine layers are normalised once for
both (:mod:`repro.layers.normcache`): normalising is deterministic, and what is reused is
checked. Both images are normalised, then compared. The same digest means
the build is reproducible; otherwise the diff report (:mod:`repro.reproduce.diff`) says which
layer differs first, which Dockerfile instruction made it, what differs in each path, and
how to fix the usual culprits.

    >>> result = verify(BuildSpec(Path("app")), config=Config())   # doctest: +SKIP
    >>> result.reproducible, str(result.digest)                    # doctest: +SKIP
    (True, 'sha256:…')

The builds run concurrently when the machine has at least two CPUs: most of a build is
waiting on the registry, on disk and on single-threaded tools inside RUN steps, so two at
once take little more wall time than one (``bench/verify.py`` measures it). The second
starts :data:`STAGGER_SECONDS` after the first so that their clocks differ.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.build.engine import BuildEvent, BuildResult, Engine, ProgressCallback
from repro.build.pipeline import (
    BuildSpec,
    Prepared,
    Variation,
    build_platforms,
    check_engine,
    combine_builds,
    engines_for,
    for_platform,
    prepare,
    publish,
    run_build,
    run_concurrently,
    work_directory,
)
from repro.config import Config
from repro.digest import Digest
from repro.errors import UsageError
from repro.oci.layout import ImageLayout
from repro.process import Runner, run

if TYPE_CHECKING:
    from repro.reproduce.diff import ImageDiff

logger = logging.getLogger(__name__)

#: The two environments. Locales that are not installed still change the variables a
#: build sees; time zones far apart make a stray local time show up in the diff.
VARIATIONS: tuple[Variation, Variation] = (
    Variation(
        label="A",
        environment={"TZ": "UTC", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
        umask=0o022,
        copy_context=True,
    ),
    Variation(
        label="B",
        environment={"TZ": "Pacific/Kiritimati", "LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8"},
        umask=0o002,
        copy_context=True,
        warm=False,  # built from nothing, whatever the cache holds: the independent proof
    ),
)

#: Concurrent builds start this far apart, so that a step recording the time of day to the
#: second (``RUN date > /built-at``) runs in a different second in each build.
STAGGER_SECONDS = 1.5


@dataclass(frozen=True)
class VerifyResult:
    """Two builds and their comparison.

    ``builds[i].layout`` is where that image was while it was compared; both are removed
    afterwards except the first, which is at ``output`` when one was asked for and the
    build is reproducible. ``diff`` is the :class:`~repro.reproduce.diff.ImageDiff` when the
    digests differ.
    """

    reproducible: bool
    builds: tuple[BuildResult, BuildResult]
    #: What each build varied (its :class:`Variation` as far as its engine honours it).
    varied: tuple[str, str]
    diff: ImageDiff | None
    concurrent: bool
    duration: float
    output: Path | None = None
    #: The platform of a one-platform verify of a multi-platform build.
    platform: str | None = None
    #: For several platforms: each platform verified on its own, in the order given;
    #: ``builds`` are then the two image indexes, and ``diff`` is None (see each platform's).
    platforms: tuple[VerifyResult, ...] = ()

    @property
    def digest(self) -> Digest:
        """The digest of the first build (of both, when reproducible)."""
        return self.builds[0].digest

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "reproducible": self.reproducible,
            "digest": str(self.digest) if self.reproducible else None,
            "digests": [str(b.digest) for b in self.builds],
            "builds": [self._build_json(b) for b in self.builds],
            "engines": [str(b.engine) for b in self.builds],
            "varied": list(self.varied),
            "concurrent": self.concurrent,
            "duration_seconds": round(self.duration, 3),
            "output": str(self.output) if self.output is not None else None,
        }
        if self.diff is not None:
            obj["diff"] = self.diff.to_json()
        if self.platform is not None:
            obj["platform"] = self.platform
        if self.platforms:
            obj["platforms"] = [p.to_json() for p in self.platforms]
        return obj

    @property
    def differing_platforms(self) -> tuple[str, ...]:
        """The platforms whose two builds differ (of a multi-platform verify)."""
        return tuple(p.platform or "" for p in self.platforms if not p.reproducible)

    def _build_json(self, build: BuildResult) -> dict[str, Any]:
        obj = build.to_json()
        if build.layout != self.output:  # compared, then removed
            obj["layout"] = obj["reference"] = None
        return obj


def default_concurrency() -> bool:
    """Build concurrently on two or more CPUs."""
    return (os.cpu_count() or 1) >= 2


def compare(
    first: BuildResult,
    second: BuildResult,
    prepared: Prepared,
    varied: Sequence[str] = ("", ""),
    *,
    platform: str | None = None,
) -> ImageDiff:
    """The diff report of the two builds' images, layers mapped to the Dockerfile; with
    ``platform``, each image's name says which platform the two builds were for."""
    from repro.reproduce.diff import diff_images, open_image

    where = f" {platform}" if platform else ""
    images = [
        dataclasses.replace(
            open_image(f"oci:{build.layout}:{build.tag}"),
            name=f"build {variation.label}{where} ({'; '.join(filter(None, (str(build.engine), how)))})",
        )
        for build, variation, how in zip((first, second), VARIATIONS, varied, strict=True)
    ]
    return diff_images(
        images[0],
        images[1],
        dockerfile=prepared.graph.dockerfile,
        target=prepared.spec.target,
        build_args=prepared.spec.build_args,
    )


def describe(variation: Variation, engine: Engine) -> str:
    """What ``variation`` changes in a build by ``engine`` (a daemon sees no client umask)."""
    honoured = engine.varies()
    settings = []
    if "environment" in honoured:
        settings += [f"{k}={v}" for k, v in sorted(variation.environment.items()) if k != "LANG"]
    if "umask" in honoured and variation.umask is not None:
        settings.append(f"umask {variation.umask:04o}")
    return ", ".join(settings)


def verify(
    spec: BuildSpec,
    *,
    config: Config,
    engines: Sequence[Engine] | None = None,
    progress: ProgressCallback | None = None,
    concurrent: bool | None = None,
    runner: Runner = run,
) -> VerifyResult:
    """Build ``spec`` twice with :data:`VARIATIONS` and compare.

    ``engines`` (default: the ones ``spec.engines`` or ``config`` names) holds one engine,
    which builds both, or two, which build one each. When the digests agree and
    ``spec.output`` is set, the image is written there.
    Raises :class:`~repro.errors.BuildError` (and the errors of :func:`prepare`) when a
    build fails; a build that succeeds but differs is *not* an exception: look at
    ``reproducible`` (the CLI turns it into exit code 6).
    """
    chosen = list(engines) if engines is not None else engines_for(spec, config)
    if len(chosen) not in (1, 2):
        raise UsageError(f"repro verify compares one or two engines, got {len(chosen)}")
    pair = (chosen[0], chosen[-1])
    prepared = prepare(spec, config=config, runner=runner)
    for engine in chosen:
        check_engine(prepared, engine)  # fails before any build: engine missing, feature unsupported
    varied = (describe(VARIATIONS[0], pair[0]), describe(VARIATIONS[1], pair[1]))
    parallel = default_concurrency() if concurrent is None else concurrent
    if len(build_platforms(spec)) > 1:
        return _verify_platforms(prepared, pair, varied, parallel=parallel, progress=progress)
    started = time.monotonic()

    def note(text: str) -> None:
        if progress is not None:
            progress(BuildEvent(kind="phase", text=text, elapsed=time.monotonic() - started))

    with ExitStack() as stack:
        workdirs = [stack.enter_context(work_directory(f"repro-verify-{v.label}-")) for v in VARIATIONS]
        jobs: list[Callable[[], BuildResult]] = [
            functools.partial(
                run_build, prepared, workdir, engine=engine, variation=variation, progress=progress
            )
            for engine, variation, workdir in zip(pair, VARIATIONS, workdirs, strict=True)
        ]
        results = _run_all(jobs, parallel)
        first, second = results
        reproducible = first.digest == second.digest
        diff = None
        output = None
        if reproducible:
            note(f"reproducible {first.digest}")
            if spec.output is not None:
                for tag in spec.tags:
                    publish(first.layout, first.tag, spec.output, tag)
                output = spec.output
                first = dataclasses.replace(first, layout=spec.output)
        else:
            note(f"digests differ: {first.digest} and {second.digest}; comparing")
            diff = compare(first, second, prepared, varied)
    return VerifyResult(
        reproducible=reproducible,
        builds=(first, second),
        varied=varied,
        diff=diff,
        concurrent=parallel,
        duration=time.monotonic() - started,
        output=output,
    )


def _verify_platforms(
    prepared: Prepared,
    pair: tuple[Engine, Engine],
    varied: tuple[str, str],
    *,
    parallel: bool,
    progress: ProgressCallback | None,
) -> VerifyResult:
    """Verify each platform of ``prepared`` by building it twice (one platform after the
    other, its two builds as for one platform), then combine each build's images into an
    index: the two indexes must be identical too."""
    from repro.images.index import combine_platforms

    spec = prepared.spec
    started = time.monotonic()

    def note(text: str) -> None:
        if progress is not None:
            progress(BuildEvent(kind="phase", text=text, elapsed=time.monotonic() - started))

    per_platform: list[VerifyResult] = []
    with ExitStack() as stack:
        for number, platform in enumerate(build_platforms(spec)):
            one = for_platform(prepared, platform)
            platform_started = time.monotonic()
            workdirs = [
                stack.enter_context(work_directory(f"repro-verify-{v.label}-{number}-")) for v in VARIATIONS
            ]
            jobs: list[Callable[[], BuildResult]] = [
                functools.partial(
                    run_build,
                    one,
                    workdir,
                    engine=engine,
                    variation=dataclasses.replace(variation, label=f"{variation.label} {platform}"),
                    progress=progress,
                )
                for engine, variation, workdir in zip(pair, VARIATIONS, workdirs, strict=True)
            ]
            first, second = _run_all(jobs, parallel)
            diff = None
            if first.digest == second.digest:
                note(f"{platform}: reproducible {first.digest}")
            else:
                note(f"{platform}: digests differ: {first.digest} and {second.digest}; comparing")
                diff = compare(first, second, one, varied, platform=platform)
            per_platform.append(
                VerifyResult(
                    reproducible=diff is None,
                    builds=(first, second),
                    varied=varied,
                    diff=diff,
                    concurrent=parallel,
                    duration=time.monotonic() - platform_started,
                    platform=platform,
                )
            )
        indexes = []
        for side, variation in enumerate(VARIATIONS):
            directory = stack.enter_context(work_directory(f"repro-verify-{variation.label}-index-"))
            builds = [p.builds[side] for p in per_platform]
            indexes.append(
                combine_builds(builds, directory, (spec.tag,), duration=time.monotonic() - started)
            )
        reproducible = all(p.reproducible for p in per_platform) and indexes[0].digest == indexes[1].digest
        output = None
        if reproducible:
            note(f"reproducible {indexes[0].digest} ({len(per_platform)} platforms)")
            if spec.output is not None:
                descriptor = combine_platforms(
                    [p.builds[0].layout for p in per_platform], spec.output, tag=spec.tag
                )
                layout = ImageLayout.open(spec.output)
                for tag in spec.tags[1:]:
                    layout.set_tag(tag, descriptor)
                output = spec.output
                indexes[0] = _moved(indexes[0], spec.output)
                per_platform = [
                    dataclasses.replace(
                        p, builds=(_moved(p.builds[0], spec.output), p.builds[1]), output=output
                    )
                    for p in per_platform
                ]
    return VerifyResult(
        reproducible=reproducible,
        builds=(indexes[0], indexes[1]),
        varied=varied,
        diff=None,
        concurrent=parallel,
        duration=time.monotonic() - started,
        output=output,
        platforms=tuple(per_platform),
    )


def _moved(build: BuildResult, layout: Path) -> BuildResult:
    """``build`` (an index or one of its platforms) as written to ``layout``."""
    platforms = tuple(dataclasses.replace(p, layout=layout) for p in build.platforms)
    return dataclasses.replace(build, layout=layout, platforms=platforms)


def _run_all(jobs: list[Callable[[], BuildResult]], parallel: bool) -> list[BuildResult]:
    return run_concurrently(jobs, workers=len(jobs) if parallel else 1, stagger=STAGGER_SECONDS)
