"""The images a release builds: one, or one per platform combined under an image index.

``repro release --platform linux/amd64,linux/arm64`` verifies each platform on its own
(two independent builds that must give one digest, as for one platform) and then
combines the platform images into one OCI image index
(:func:`repro.images.index.combine_platforms`), which is what gets tagged. Every later
stage works per platform image: its SBOM, its policy facts, its signed statements
(attached to that platform's manifest); the index gets its own provenance and signature.

    >>> release_platforms(BuildSpec(Path("app"), platform="linux/arm64,linux/amd64"))
    ('linux/arm64', 'linux/amd64')
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from repro.build.pipeline import BuildSpec
from repro.errors import ImageError, NotReproducibleError
from repro.platform import parse_platforms

if TYPE_CHECKING:
    from repro.build.engine import Engine, ProgressCallback
    from repro.config import Config
    from repro.digest import Digest
    from repro.oci.layout import Image
    from repro.oci.models import Descriptor
    from repro.policy import Report as PolicyReport
    from repro.reproduce.verify import VerifyResult

__all__ = [
    "BuiltImage",
    "BuiltRelease",
    "ReleasedImage",
    "build_release",
    "merge_policy_reports",
    "release_platforms",
]


def release_platforms(spec: BuildSpec) -> tuple[str, ...]:
    """The platforms ``--platform`` lists, normalised, in the order given (empty: none named)."""
    if not spec.platform:
        return ()
    return tuple(str(platform) for platform in parse_platforms(spec.platform))


@dataclass(frozen=True)
class BuiltImage:
    """One image of a release: the platform it was built for and the verify run that built
    it twice. ``platform`` is None for a one-image release (the engine's own platform, or
    the one ``--platform`` named)."""

    platform: str | None
    result: VerifyResult

    @property
    def digest(self) -> Digest:
        return self.result.digest

    @property
    def label(self) -> str:
        return self.platform or "image"


@dataclass(frozen=True)
class BuiltRelease:
    """What the build stage made: the images, and the layout whose ``tag`` names the image
    (one image) or the index of them (several platforms)."""

    images: tuple[BuiltImage, ...]
    started: datetime
    finished: datetime
    layout: Path
    tag: str
    #: The index's descriptor when several platforms were built; None for one image.
    index: Descriptor | None = None


@dataclass(frozen=True)
class ReleasedImage:
    """A built image read back from the release layout, with its SBOM."""

    built: BuiltImage
    image: Image
    sbom: bytes

    @property
    def platform(self) -> str | None:
        return self.built.platform


class PlatformNotReproducibleError(NotReproducibleError):
    """One platform of a multi-platform release gave two digests (carries its result)."""

    def __init__(
        self, message: str, *, hint: str | None = None, result: VerifyResult | None = None, platform: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        self.result = result
        self.platform = platform


def build_release(
    spec: BuildSpec,
    *,
    work: Path,
    tag: str,
    config: Config,
    engines: Sequence[Engine] | None,
    progress: ProgressCallback | None,
    note: Callable[[str], None],
    clock: Callable[[], datetime],
) -> BuiltRelease:
    """Verify ``spec`` (each of its platforms, when it lists several) and write the release
    layout ``work/image`` tagged ``tag``: the image, or the index of the platform images.

    Raises :class:`PlatformNotReproducibleError` (a platform's two builds differ) or returns
    a result whose one image is not reproducible (the caller reports the diff).
    """
    from repro.reproduce.verify import verify

    platforms = release_platforms(spec)
    output = work / "image"
    started = clock()
    if len(platforms) <= 1:
        single = dataclasses.replace(spec, output=output, tag=tag, extra_tags=())
        result = verify(single, config=config, engines=engines, progress=progress)
        return BuiltRelease((BuiltImage(None, result),), started, clock(), output, tag)

    from repro.images.index import combine_platforms

    built: list[BuiltImage] = []
    for platform in platforms:
        note(f"{platform}: building twice")
        one = dataclasses.replace(
            spec,
            platform=platform,
            output=work / "platforms" / platform.replace("/", "-"),
            tag=tag,
            extra_tags=(),
        )
        result = verify(one, config=config, engines=engines, progress=progress)
        if not result.reproducible:
            first, second = result.builds
            raise PlatformNotReproducibleError(
                f"{platform}: not reproducible: two builds gave {first.digest} and {second.digest}",
                hint="the report shows what differs; 'repro verify --platform "
                f"{platform}' does the same alone",
                result=result,
                platform=platform,
            )
        if result.output is None:
            raise ImageError(f"{platform}: the build wrote no image")
        built.append(BuiltImage(platform, result))
        note(f"{platform}: reproducible {result.digest}")
    note(f"combining {len(built)} platform images into an index")
    index = combine_platforms([b.result.output for b in built if b.result.output], output, tag=tag)
    return BuiltRelease(tuple(built), started, clock(), output, tag, index)


def merge_policy_reports(reports: Sequence[PolicyReport]) -> PolicyReport:
    """One report of the policy checks of several platform images: every finding once
    (the Dockerfile's findings are the same for every platform), every document once."""
    from repro.policy import Report

    first = reports[0]
    findings = {
        json.dumps(f.to_json(), sort_keys=True, default=str): f for report in reports for f in report.findings
    }
    return Report(
        stage=first.stage,
        findings=tuple(findings.values()),
        rules={rule: info for report in reports for rule, info in report.rules.items()},
        documents=tuple(dict.fromkeys(d for report in reports for d in report.documents)),
    )
