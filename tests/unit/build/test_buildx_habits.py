"""Habits from ``docker buildx build``: -t, -f -, Containerfile, --no-cache, --label,
--annotation, --build-context, and -o shown as required."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from repro.build import pipeline
from repro.build.engine import BuildRequest, EngineOutput, ProgressCallback, RunOptions
from repro.cli import main
from repro.config import Config
from repro.errors import EXIT_FILE_ACCESS, EXIT_OK, EXIT_USAGE
from repro.oci.layout import ImageLayout
from repro.reproduce import verify
from tests.unit.build.fakes import FakeEngine

DIGEST = "sha256:" + "ab" * 32
DOCKERFILE = f"FROM busybox@{DIGEST}\nRUN echo hi > /out.txt\n"


@dataclass
class Recording(FakeEngine):
    """Also keeps what the engine was given to read: the Dockerfile, the build contexts."""

    dockerfiles: list[str] = field(default_factory=list)
    build_context_files: list[dict[str, list[str]]] = field(default_factory=list)

    def build(
        self, request: BuildRequest, options: RunOptions, *, progress: ProgressCallback | None = None
    ) -> EngineOutput:
        self.dockerfiles.append(request.dockerfile.read_text())
        self.build_context_files.append(
            {name: sorted(p.name for p in path.iterdir()) for name, path in request.build_contexts.items()}
        )
        return super().build(request, options, progress=progress)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Recording:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    fake = Recording()
    monkeypatch.setattr(pipeline, "engines_for", lambda spec, config: [fake])
    monkeypatch.setattr(verify, "engines_for", lambda spec, config: [fake])
    return fake


def make(tmp_path: Path, name: str = "Dockerfile") -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / name).write_text(DOCKERFILE)
    return ctx


def test_each_tag_names_the_image_in_the_layout(tmp_path: Path, engine: Recording) -> None:
    ctx = make(tmp_path)
    out = tmp_path / "out"
    args = ["build", str(ctx), "-o", f"oci:{out}", "-t", "app:1.0", "--tag", "registry.example.com/app"]
    assert main(args) == EXIT_OK
    layout = ImageLayout.open(out)
    assert sorted(layout.tags()) == ["1.0", "latest"]
    assert layout.find("1.0").digest == layout.find("latest").digest
    # with a TAG in -o, that one comes first and -t adds more
    assert main(["verify", str(ctx), "-o", f"oci:{tmp_path / 'v'}:main", "-t", "app:2"]) == EXIT_OK
    assert sorted(ImageLayout.open(tmp_path / "v").tags()) == ["2", "main"]


def test_bad_tags_are_usage_errors(
    tmp_path: Path, engine: Recording, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make(tmp_path)
    out = f"oci:{tmp_path / 'out'}"
    assert main(["build", str(ctx), "-o", out, "-t", "a:1", "-t", "b:1"]) == EXIT_USAGE
    assert "already gets tag 1 from -t a:1" in capsys.readouterr().err
    assert main(["build", str(ctx), "-o", out, "-t", f"app@{DIGEST}"]) == EXIT_USAGE
    assert main(["build", str(ctx), "-o", out, "-t", "UPPER:1"]) == EXIT_USAGE
    assert main(["verify", str(ctx), "-t", "app:1"]) == EXIT_USAGE
    assert "give -o oci:DIR too" in capsys.readouterr().err
    assert engine.requests == []


def test_dockerfile_from_stdin(
    tmp_path: Path, engine: Recording, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(DOCKERFILE.encode())))
    assert main(["build", str(ctx), "-f", "-", "-o", f"oci:{tmp_path / 'out'}"]) == EXIT_OK
    assert "RUN echo hi > /out.txt" in engine.dockerfiles[0]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert main(["build", str(ctx), "-f", "-", "-o", f"oci:{tmp_path / 'out'}"]) == EXIT_USAGE
    assert "no Dockerfile on stdin" in capsys.readouterr().err


def test_a_context_with_only_a_containerfile(tmp_path: Path, engine: Recording) -> None:
    ctx = make(tmp_path, "Containerfile")
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'out'}"]) == EXIT_OK
    assert "RUN echo hi > /out.txt" in engine.dockerfiles[0]


def test_a_dockerfile_wins_over_a_containerfile(tmp_path: Path, engine: Recording) -> None:
    ctx = make(tmp_path)
    (ctx / "Containerfile").write_text("not a Dockerfile\n")
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'out'}"]) == EXIT_OK


def test_labels_annotations_build_contexts_and_no_cache_reach_the_engine(
    tmp_path: Path, engine: Recording
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE + "COPY --from=vendored lib /lib\n")
    vendored = tmp_path / "vendored"
    (vendored / "lib").mkdir(parents=True)
    (vendored / "lib" / "x.so").write_text("x")
    (vendored / "junk").write_text("junk")
    (vendored / ".dockerignore").write_text("junk\n")
    args = [
        "verify", str(ctx), "--no-cache", "--sequential",
        "--label", "org.opencontainers.image.title=app", "--label", "team=a=b",
        "--annotation", "org.opencontainers.image.url=https://example.com",
        "--build-context", f"vendored={vendored}",
    ]  # fmt: skip
    assert main(args) == EXIT_OK  # "vendored" is a directory, not an unpinned image
    first = engine.requests[0]
    assert dict(first.labels) == {"org.opencontainers.image.title": "app", "team": "a=b"}
    assert first.annotations["org.opencontainers.image.url"] == "https://example.com"
    # verify builds from copies of every context, each filtered by its own .dockerignore
    assert first.build_contexts["vendored"] != vendored.resolve()
    assert engine.build_context_files == [{"vendored": [".dockerignore", "lib"]}] * 2


def test_a_missing_build_context_directory(
    tmp_path: Path, engine: Recording, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make(tmp_path)
    args = ["build", str(ctx), "-o", f"oci:{tmp_path / 'o'}", "--build-context", f"x={tmp_path / 'nope'}"]
    assert main(args) == EXIT_USAGE
    assert "--build-context x=" in capsys.readouterr().err
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'o'}", "--label", "novalue"]) == EXIT_USAGE


@pytest.mark.parametrize(
    "source",
    [
        f"docker-image://busybox@{DIGEST}",
        "oci-layout:///srv/layouts/base@" + DIGEST,
        "https://github.com/example/repo.git#main",
        "git@github.com:example/repo.git",
    ],
)
def test_build_context_sources_other_than_a_directory_are_refused_before_building(
    tmp_path: Path, engine: Recording, capsys: pytest.CaptureFixture[str], source: str
) -> None:
    ctx = make(tmp_path)
    args = ["build", str(ctx), "-o", f"oci:{tmp_path / 'o'}", "--build-context", f"base={source}"]
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--build-context base={source}: repro takes a directory here (NAME=DIR)" in err
    assert "FROM IMAGE@sha256:" in err  # what works instead
    assert engine.dockerfiles == []  # nothing was built
    assert not (tmp_path / "o").exists()


def test_output_is_required_and_the_usage_line_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--help"]) == EXIT_OK
    usage = capsys.readouterr().out.split("\n\n", 1)[0]
    assert " -o OUTPUT " in usage.replace("\n", " ")
    assert "[-o" not in usage


def test_an_engine_without_build_contexts_refuses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repro.build import BuildSpec, build
    from repro.build.capabilities import Capabilities, UnsupportedFeatureError

    class NoContexts(FakeEngine):
        def capabilities(self) -> Capabilities:
            return Capabilities(engine="plain 1")

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    ctx = make(tmp_path)
    backend = NoContexts()
    spec = BuildSpec(ctx, output=tmp_path / "out", build_contexts={"x": tmp_path})
    with pytest.raises(UnsupportedFeatureError, match="--build-context is not supported by plain 1"):
        build(spec, config=Config(), engine=backend)
    assert backend.requests == []


def test_build_and_verify_write_identical_archives(
    tmp_path: Path, engine: Recording, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make(tmp_path)
    built = tmp_path / "built.tar"
    verified = tmp_path / "verified.tar"
    assert main(["build", str(ctx), "-o", f"oci-archive:{built}:v1", "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["reference"] == f"oci-archive:{built}:v1"
    assert result["archive"] == str(built)
    assert main(["verify", str(ctx), "-o", f"oci-archive:{verified}:v1"]) == EXIT_OK
    assert built.read_bytes() == verified.read_bytes()
    docker = tmp_path / "app.docker.tar"
    assert main(["build", str(ctx), "-t", "app:1", "-o", f"docker-archive:{docker}"]) == EXIT_OK
    with tarfile.open(docker) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["app:1"]
    assert not list(tmp_path.glob(".*.tar*"))  # no temporary file left beside the archives
    capsys.readouterr()
    assert main(["build", str(ctx), "-o", "registry.example/app:1"]) == EXIT_USAGE
    assert "oci-archive:FILE[:TAG]" in capsys.readouterr().err
    builds = len(engine.dockerfiles)
    assert main(["build", str(ctx), "-o", f"docker-archive:{built}/under-a-file.tar"]) == EXIT_FILE_ACCESS
    assert len(engine.dockerfiles) == builds  # refused before building
