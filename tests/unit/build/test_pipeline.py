"""build() and verify() around a stand-in engine: epoch, annotations, output, comparison."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from repro.build import BuildEvent, BuildSpec, build, emulation
from repro.build.emulation import EmulationError
from repro.build.engine import BuildRequest, EngineOutput, RunOptions
from repro.build.pipeline import ANNOTATION_EPOCH
from repro.build.preflight import BasePlatformError
from repro.config import Config
from repro.errors import BuildError, UsageError
from repro.oci.layout import ImageLayout
from repro.oci.models import Index
from repro.platform import Platform
from repro.reproduce.verify import VARIATIONS, verify
from tests.unit.build.fakes import FakeEngine, use_base

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1704067200")
    use_base(monkeypatch, "busybox", DIGEST)
    directory = tmp_path / "ctx"
    directory.mkdir()
    (directory / "Dockerfile").write_text(f"FROM busybox@{DIGEST}\nRUN echo hi > /out.txt\n")
    (directory / "data.txt").write_text("data\n")
    return directory


def test_build_writes_the_output_and_reports(ctx: Path, tmp_path: Path) -> None:
    engine = FakeEngine()
    events: list[BuildEvent] = []
    out = tmp_path / "out"
    result = build(
        BuildSpec(ctx, output=out, tag="v1", build_args={"A": "1"}),
        config=Config(),
        engine=engine,
        progress=events.append,
    )
    assert ImageLayout.open(out).find("v1").digest == result.digest
    assert result.layout == out
    assert result.reference == f"oci:{out}:v1"
    assert (result.source_date_epoch, result.epoch_source) == (1704067200, "environment")
    request = engine.requests[0]
    assert request.context == ctx.resolve()
    assert request.source_date_epoch == 1704067200
    # the engine builds a copy that declares SOURCE_DATE_EPOCH in every stage, given as a build arg
    assert dict(request.build_args) == {"A": "1", "SOURCE_DATE_EPOCH": "1704067200"}
    assert request.dockerfile.name == "Dockerfile.repro"
    assert request.ca_bundle is None
    assert dict(request.annotations) == {ANNOTATION_EPOCH: "1704067200"}
    manifest = ImageLayout.open(out).image("v1").manifest
    assert manifest.annotations[ANNOTATION_EPOCH] == "1704067200"
    assert [e.kind for e in events] == ["step", "phase"]
    assert not engine.runs[0].workdir.exists()  # engine storage is removed
    as_json = result.to_json()
    assert as_json["digest"] == str(result.digest)
    assert as_json["engine"] == {"name": "fake", "version": "0.0"}


def test_build_adds_to_an_existing_layout(ctx: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = build(BuildSpec(ctx, output=out, tag="a"), config=Config(), engine=FakeEngine())
    second = build(BuildSpec(ctx, output=out, tag="b"), config=Config(), engine=FakeEngine(b"other"))
    layout = ImageLayout.open(out)
    assert sorted(layout.tags()) == ["a", "b"]
    assert layout.find("a").digest == first.digest
    assert layout.find("b").digest == second.digest != first.digest


def test_verify_same_digest_is_reproducible(ctx: Path, tmp_path: Path) -> None:
    engine = FakeEngine()
    out = tmp_path / "out"
    result = verify(BuildSpec(ctx, output=out), config=Config(), engines=[engine], concurrent=True)
    assert result.reproducible
    assert result.builds[0].digest == result.builds[1].digest
    assert ImageLayout.open(out).find("latest").digest == result.digest
    assert result.to_json()["digest"] == str(result.digest)
    # two independent copies of the context at different paths, each environment varied
    first, second = engine.requests
    assert first.context != second.context != ctx.resolve()
    assert engine.context_files == [["Dockerfile", "data.txt"]] * 2
    environments = sorted(sorted(r.environment.items()) for r in engine.runs)
    assert environments == sorted(sorted(v.environment.items()) for v in VARIATIONS)
    assert {r.umask for r in engine.runs} == {0o022, 0o002}
    assert engine.runs[0].workdir != engine.runs[1].workdir


def test_verify_copies_only_what_dockerignore_lets_through(ctx: Path, tmp_path: Path) -> None:
    (ctx / "node_modules" / "big").mkdir(parents=True)
    (ctx / "node_modules" / "big" / "index.js").write_text("x" * 10_000)
    (ctx / "debug.log").write_text("log")
    (ctx / ".dockerignore").write_text("node_modules\n*.log\nDockerfile\n")
    engine = FakeEngine()
    verify(BuildSpec(ctx), config=Config(), engines=[engine], concurrent=False)
    # the Dockerfile and the ignore file go along (the engine reads them), nothing ignored does
    assert engine.context_files == [[".dockerignore", "Dockerfile", "data.txt"]] * 2


def test_verify_different_digests_is_not_reproducible_and_writes_nothing(ctx: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = verify(
        BuildSpec(ctx, output=out), config=Config(), engines=[FakeEngine(vary=True)], concurrent=False
    )
    assert not result.reproducible
    assert not out.exists()
    assert result.diff is not None
    assert not result.diff.identical
    assert result.diff.first_differing_layer == 0
    paths = [entry.path for entry in result.diff.layers[0].entries]
    assert paths == ["out.txt"]
    assert result.to_json()["digest"] is None


def test_a_platform_list_builds_each_platform_into_one_index(ctx: Path, tmp_path: Path) -> None:
    engine = FakeEngine()
    out = tmp_path / "out"
    events: list[BuildEvent] = []
    result = build(
        BuildSpec(ctx, output=out, tag="v1", extra_tags=("v1.0",), platform="linux/arm64, Linux/AMD64"),
        config=Config(),
        engine=engine,
        progress=events.append,
    )
    # one engine run per platform, each normalised, in the order given
    assert sorted(request.platforms for request in engine.requests) == [("linux/amd64",), ("linux/arm64",)]
    layout = ImageLayout.open(out)
    assert layout.find("v1").digest == layout.find("v1.0").digest == result.digest
    index = layout.manifest(layout.find("v1"))
    assert isinstance(index, Index)
    assert [str(d.platform) for d in index.manifests] == ["linux/arm64", "linux/amd64"]
    assert [d.digest for d in index.manifests] == [p.digest for p in result.platforms]
    assert [p.platform for p in result.platforms] == ["linux/arm64", "linux/amd64"]
    assert result.platform is None
    for descriptor, expected in zip(index.manifests, ("arm64", "amd64"), strict=True):
        assert layout.image(descriptor=descriptor).config["architecture"] == expected
    as_json = result.to_json()
    assert as_json["digest"] == str(result.digest)
    assert [(p["platform"], p["digest"]) for p in as_json["platforms"]] == [
        (p.platform, str(p.digest)) for p in result.platforms
    ]
    assert "layout" not in as_json["platforms"][0]
    assert {e.build for e in events if e.kind == "step"} == {"linux/arm64", "linux/amd64"}


def test_a_platform_list_gives_the_same_index_twice(ctx: Path, tmp_path: Path) -> None:
    platforms = "linux/amd64,linux/arm64"
    first = build(
        BuildSpec(ctx, output=tmp_path / "a", platform=platforms), config=Config(), engine=FakeEngine()
    )
    second = build(
        BuildSpec(ctx, output=tmp_path / "b", platform=platforms), config=Config(), engine=FakeEngine()
    )
    assert first.digest == second.digest
    assert (tmp_path / "a" / "index.json").read_bytes() == (tmp_path / "b" / "index.json").read_bytes()


def test_a_platform_named_twice_is_refused_before_any_build(ctx: Path, tmp_path: Path) -> None:
    engine = FakeEngine()
    with pytest.raises(UsageError, match="linux/aarch64 is linux/arm64 again"):
        build(
            BuildSpec(ctx, output=tmp_path / "out", platform="linux/arm64,linux/amd64,linux/aarch64"),
            config=Config(),
            engine=engine,
        )
    with pytest.raises(UsageError, match="again"):
        verify(BuildSpec(ctx, platform="linux/amd64, linux/amd64"), config=Config(), engines=[engine])
    assert engine.requests == []
    assert not (tmp_path / "out").exists()


def test_a_platform_without_an_emulator_is_refused_before_any_build(
    ctx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    (binfmt / "status").write_text("enabled\n")
    (binfmt / "qemu-s390x").write_text("disabled\ninterpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\n")
    monkeypatch.setattr(emulation, "BINFMT_DIR", binfmt)
    monkeypatch.setattr(Platform, "host", classmethod(lambda cls: Platform("linux", "amd64")))
    engine = FakeEngine()
    with pytest.raises(EmulationError) as caught:
        build(
            BuildSpec(ctx, output=tmp_path / "out", platform="linux/amd64,linux/riscv64,linux/s390x"),
            config=Config(),
            engine=engine,
        )
    message = str(caught.value)
    assert "linux/riscv64 (no qemu-riscv64 entry" in message
    assert "linux/s390x (qemu-s390x is registered" in message
    assert "but disabled" in message
    assert "linux/amd64" not in message.split(":", 1)[0]
    assert "make emulation" in caught.value.hint
    assert "qemu-user-static" in caught.value.hint
    assert engine.requests == []
    with pytest.raises(EmulationError, match="linux/riscv64"):
        verify(BuildSpec(ctx, platform="linux/riscv64"), config=Config(), engines=[engine])
    assert engine.requests == []


def test_a_base_without_a_platform_is_refused_before_any_build(
    ctx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_base(monkeypatch, "busybox", DIGEST, platforms=("linux/amd64",))
    engine = FakeEngine()
    spec = BuildSpec(ctx, output=tmp_path / "out", platform="linux/amd64,linux/arm64")
    with pytest.raises(BasePlatformError) as caught:
        build(spec, config=Config(), engine=engine)
    assert f"{ctx / 'Dockerfile'}:1: busybox@{DIGEST} has no manifest for linux/arm64" in str(caught.value)
    assert "repro pin --update --platform" in caught.value.hint
    with pytest.raises(BasePlatformError):
        verify(spec, config=Config(), engines=[engine])
    assert engine.requests == []
    assert not (tmp_path / "out").exists()
    # one platform is built as before, without asking
    build(dataclasses.replace(spec, platform="linux/amd64"), config=Config(), engine=engine)


def test_an_engine_that_ignores_the_platform_is_caught(ctx: Path, tmp_path: Path) -> None:
    class OnePlatformEngine(FakeEngine):
        def build(self, request: BuildRequest, options: RunOptions, **kwargs: Any) -> EngineOutput:
            return super().build(dataclasses.replace(request, platforms=()), options, **kwargs)

    with pytest.raises(BuildError, match=r"asked for linux/arm64, fake 0\.0 built an image for linux/amd64"):
        build(
            BuildSpec(ctx, output=tmp_path / "out", platform="linux/amd64,linux/arm64"),
            config=Config(),
            engine=OnePlatformEngine(),
        )


def test_verify_proves_each_platform(ctx: Path, tmp_path: Path) -> None:
    engine = FakeEngine()
    out = tmp_path / "out"
    result = verify(
        BuildSpec(ctx, output=out, platform="linux/amd64,linux/arm64"),
        config=Config(),
        engines=[engine],
        concurrent=False,
    )
    assert result.reproducible
    assert len(engine.requests) == 4
    assert [p.platform for p in result.platforms] == ["linux/amd64", "linux/arm64"]
    assert all(p.reproducible and p.builds[0].digest == p.builds[1].digest for p in result.platforms)
    assert result.builds[0].digest == result.builds[1].digest == result.digest
    layout = ImageLayout.open(out)
    assert layout.find("latest").digest == result.digest
    index = layout.manifest(layout.find("latest"))
    assert isinstance(index, Index)
    assert [d.digest for d in index.manifests] == [p.digest for p in result.platforms]
    as_json = result.to_json()
    assert as_json["reproducible"] is True
    assert [(p["platform"], p["reproducible"]) for p in as_json["platforms"]] == [
        ("linux/amd64", True),
        ("linux/arm64", True),
    ]


def test_verify_names_the_platform_that_differs(ctx: Path, tmp_path: Path) -> None:
    class ArmVaries(FakeEngine):
        def build(self, request: BuildRequest, options: RunOptions, **kwargs: Any) -> EngineOutput:
            self.vary = request.platform == "linux/arm64"
            return super().build(request, options, **kwargs)

    out = tmp_path / "out"
    result = verify(
        BuildSpec(ctx, output=out, platform="linux/amd64,linux/arm64"),
        config=Config(),
        engines=[ArmVaries()],
        concurrent=False,
    )
    assert not result.reproducible
    assert not out.exists()
    assert result.differing_platforms == ("linux/arm64",)
    amd64, arm64 = result.platforms
    assert amd64.reproducible
    assert amd64.diff is None
    assert arm64.diff is not None
    assert not arm64.diff.identical
    assert "linux/arm64" in arm64.diff.to_json()["a"]["name"]
    assert result.builds[0].digest != result.builds[1].digest
    assert result.to_json()["platforms"][1]["diff"]["first_differing_layer"] == 0


def test_one_platform_reaches_the_engine_normalised(ctx: Path, tmp_path: Path) -> None:
    engine = FakeEngine()
    build(BuildSpec(ctx, output=tmp_path / "out", platform="Linux/AMD64"), config=Config(), engine=engine)
    assert [request.platforms for request in engine.requests] == [("linux/amd64",)]
