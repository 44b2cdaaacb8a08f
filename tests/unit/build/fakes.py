"""A build engine stand-in for unit tests: writes a real one-layer image, runs nothing."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from repro.build import pipeline
from repro.build.buildah import parse_step
from repro.build.capabilities import Capabilities
from repro.build.engine import BuildRequest, EngineIdentity, EngineOutput, ProgressCallback, RunOptions
from repro.digest import Digest
from repro.layers.noise import EngineNoise
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.pin import PlatformDigest, Resolution
from repro.platform import Platform
from tests.unit.pin.helpers import INDEX, TableResolver, fake_digest

#: The platforms the stand-in base image has (those the unit tests build for).
BASE_PLATFORMS = ("linux/amd64", "linux/arm64", "linux/riscv64", "linux/s390x")


def use_base(
    monkeypatch: pytest.MonkeyPatch, name: str, digest: str, platforms: Sequence[str] = BASE_PLATFORMS
) -> TableResolver:
    """Make the base-platform check of a multi-platform build see ``name@digest`` (a Docker
    Hub name) as an index of ``platforms``: unit tests reach no registry."""
    canonical = f"docker.io/library/{name}:latest"
    resolution = Resolution(
        Digest.parse(digest),
        INDEX,
        tuple(PlatformDigest(Platform.parse(p), fake_digest(f"{canonical} {p}")) for p in platforms),
    )
    resolver = TableResolver({canonical: resolution})

    @contextmanager
    def stand_in(config: object) -> Iterator[TableResolver]:
        yield resolver

    monkeypatch.setattr(pipeline, "base_resolver", stand_in)
    return resolver


def layer_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_image(
    output: Path,
    tag: str,
    files: dict[str, bytes],
    created_by: str,
    annotations: Mapping[str, str] | None = None,
    *,
    image_config: Mapping[str, Any] | None = None,
    platform: str | None = None,
) -> None:
    layout = ImageLayout.create(output)
    layer = layout.write_blob(layer_tar(files), media.OCI_LAYER_TAR)
    os, architecture, *variant = (platform or "linux/amd64").split("/")
    config: dict[str, Any] = {
        "architecture": architecture,
        "os": os,
        **({"variant": variant[0]} if variant else {}),
        "created": "1970-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [str(layer.digest)]},
        "history": [{"created_by": created_by}],
    }
    if image_config:
        config["config"] = dict(image_config)
    config_desc = layout.write_blob(json.dumps(config, sort_keys=True).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.to_json()],
        "annotations": dict(annotations or {}),
    }
    descriptor = layout.write_blob(json.dumps(manifest, sort_keys=True).encode(), media.OCI_MANIFEST)
    layout.set_tag(tag, descriptor)


@dataclass
class FakeEngine:
    """Writes ``/out.txt`` holding ``content``; with ``vary`` the content also names the
    build's time zone, so two verify builds differ."""

    content: bytes = b"same\n"
    vary: bool = False
    name: str = "fake"
    #: The ``config`` object of the image (``User``, ``Env``…).
    image_config: Mapping[str, Any] = field(default_factory=dict)
    requests: list[BuildRequest] = field(default_factory=list)
    runs: list[RunOptions] = field(default_factory=list)
    #: The files of each build's context, as the engine saw them.
    context_files: list[list[str]] = field(default_factory=list)
    #: Every engine the registry made (``from_options``), with the settings it got.
    made: ClassVar[list[tuple[FakeEngine, dict[str, str]]]] = []

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> FakeEngine:
        engine = cls(name=options.get("name", "fake"), content=options.get("content", "same\n").encode())
        cls.made.append((engine, dict(options)))
        return engine

    def identity(self) -> EngineIdentity:
        return EngineIdentity(self.name, "0.0")

    def capabilities(self) -> Capabilities:
        return Capabilities(engine=str(self.identity()), secrets=True, stopsignal=True, build_contexts=True)

    def noise(self) -> EngineNoise:
        return EngineNoise(labels=frozenset({"dev.fake.version"}))

    def varies(self) -> frozenset[str]:
        return frozenset({"environment", "umask"})

    def build(
        self, request: BuildRequest, options: RunOptions, *, progress: ProgressCallback | None = None
    ) -> EngineOutput:
        self.requests.append(request)
        self.runs.append(options)
        self.context_files.append(sorted(p.name for p in request.context.iterdir()))
        step = parse_step("STEP 1/1: RUN echo hi > /out.txt", 0.0)
        if progress is not None and step is not None:
            progress(step)
        content = self.content
        if self.vary:
            content += options.environment.get("TZ", "").encode()
        write_image(
            request.output,
            request.tag,
            {"out.txt": content},
            "/bin/sh -c echo hi > /out.txt",
            request.annotations,
            image_config=self.image_config,
            platform=request.platform,
        )
        return EngineOutput(
            layout=request.output,
            tag=request.tag,
            engine=self.identity(),
            duration=0.0,
            command=("fake",),
            steps=1,
        )
