"""build() and verify() around a stand-in engine: epoch, annotations, output, comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.build import BuildEvent, BuildSpec, build
from repro.build.pipeline import ANNOTATION_EPOCH
from repro.config import Config
from repro.oci.layout import ImageLayout
from repro.reproduce.verify import VARIATIONS, verify
from tests.unit.build.fakes import FakeEngine

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1704067200")
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


def test_a_platform_list_is_refused_before_any_build(ctx: Path, tmp_path: Path) -> None:
    from repro.errors import UsageError

    engine = FakeEngine()
    with pytest.raises(UsageError, match="one platform per image, got linux/amd64, linux/arm64"):
        build(
            BuildSpec(ctx, output=tmp_path / "out", platform="linux/amd64,linux/arm64"),
            config=Config(),
            engine=engine,
        )
    assert not (tmp_path / "out").exists()
    with pytest.raises(UsageError, match="one platform per image"):
        verify(BuildSpec(ctx, platform="linux/amd64, linux/arm64/v8"), config=Config(), engines=[engine])


def test_one_platform_reaches_the_engine_normalised(ctx: Path, tmp_path: Path) -> None:
    engine = FakeEngine()
    build(BuildSpec(ctx, output=tmp_path / "out", platform="Linux/AMD64"), config=Config(), engine=engine)
    assert [request.platforms for request in engine.requests] == [("linux/amd64",)]
