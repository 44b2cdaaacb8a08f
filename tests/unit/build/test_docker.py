"""The docker engine's command line, identity and output handling, with the docker client
swapped out (the real daemon runs in tests/integration/test_docker_engine.py)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from repro.build.docker import DockerEngine, parse_step
from repro.build.engine import BuildRequest, BuildSecret, RegistrySettings, RunOptions
from repro.errors import BuildError, ConfigError, ImageError, UsageError
from repro.images.archive import docker_archive_to_layout
from repro.oci.layout import ImageLayout
from repro.process import LineSink

CLIENT = "/usr/bin/docker"
VERSION = {
    "Client": {"Version": "20.10.24+dfsg1"},
    "Server": {"Version": "20.10.24+dfsg1"},
}


def docker_archive(path: Path, files: dict[str, bytes], *, lie: bool = False) -> None:
    """A ``docker save`` archive of a one-layer image (``lie``: the config's diff ID is wrong)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(b"other" if lie else layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    members = {
        "manifest.json": json.dumps(
            [{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]
        ).encode(),
        "c.json": config,
        "l/layer.tar": layer_bytes,
    }
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


class FakeDocker:
    """Plays the docker client: version, buildx (absent), build output, save, image rm."""

    def __init__(self, lines: Sequence[str] = (), returncode: int = 0, buildx: bool = False) -> None:
        self.lines = lines
        self.returncode = returncode
        self.buildx = buildx
        self.calls: list[list[str]] = []
        self.build_env: dict[str, str] = {}

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        args = list(argv)
        self.calls.append(args)
        out, code = b"", 0
        if "buildx" in args:
            code = 0 if self.buildx else 1
            out = b"Name: default\nBuildkit: v0.12.5\n" if "inspect" in args else b""
        elif "version" in args:
            out = json.dumps(VERSION).encode()
        elif "save" in args:
            docker_archive(Path(args[args.index("--output") + 1]), {"out.txt": b"hi\n"})
        return subprocess.CompletedProcess(args, code, out, b"")

    def stream(
        self,
        argv: Sequence[str],
        *,
        on_line: LineSink | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        self.calls.append(list(argv))
        self.build_env = dict(env or {})
        for line in self.lines:
            if on_line is not None:
                on_line(line)
        output = "".join(f"{line}\n" for line in self.lines).encode()
        return subprocess.CompletedProcess(list(argv), self.returncode, output, b"")


def engine(fake: FakeDocker, **settings: str) -> DockerEngine:
    return DockerEngine(client=CLIENT, runner=fake.run, stream=fake.stream, **settings)


def request(tmp_path: Path, **changes: object) -> BuildRequest:
    values: dict[str, object] = {
        "context": tmp_path / "ctx",
        "dockerfile": tmp_path / "ctx" / "Dockerfile",
        "output": tmp_path / "out",
        "tag": "v1",
        "source_date_epoch": 1704067200,
    }
    values.update(changes)
    return BuildRequest(**values)  # type: ignore[arg-type]


def test_settings_are_checked() -> None:
    made = DockerEngine.from_options({"host": "tcp://build:2376", "network": "host"})
    assert (made.host, made.network, made.builder) == ("tcp://build:2376", "host", None)
    with pytest.raises(ConfigError, match=r"engines\.docker: unknown setting\(s\) hots"):
        DockerEngine.from_options({"hots": "x"})


def test_command_builds_with_buildkit_on_the_named_daemon(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    argv, env = engine(FakeDocker(), host="tcp://127.0.0.1:2376", network="host").command(
        request(
            tmp_path,
            build_args={"VERSION": "1.2"},
            labels={"org.example.team": "a"},
            secrets=(BuildSecret("tok", source=secret),),
            target="final",
            platforms=("linux/amd64",),
        ),
        RunOptions(workdir=tmp_path / "work"),
        "repro-build-x:latest",
    )
    assert argv == [
        CLIENT, "--host", "tcp://127.0.0.1:2376", "build",
        "--progress", "plain", "--no-cache", "--pull", "--network", "host",
        "--build-arg", "SOURCE_DATE_EPOCH=1704067200",
        "--build-arg", "VERSION=1.2",
        "--label", "org.example.team=a",
        "--secret", f"id=tok,src={secret}",
        "--target", "final",
        "--platform", "linux/amd64",
        "--tag", "repro-build-x:latest",
        "--file", str(tmp_path / "ctx" / "Dockerfile"),
        str(tmp_path / "ctx"),
    ]  # fmt: skip
    assert env == {"DOCKER_BUILDKIT": "1"}


def test_buildx_when_the_plugin_is_there(tmp_path: Path) -> None:
    fake = FakeDocker(buildx=True)
    argv, env = engine(fake, builder="pool").command(
        request(tmp_path), RunOptions(workdir=tmp_path / "work"), "img:latest"
    )
    assert argv[1:6] == ["buildx", "build", "--load", "--builder", "pool"]
    assert "DOCKER_BUILDKIT" not in env
    assert engine(fake, builder="pool").identity().components["buildkit"] == "v0.12.5"


def test_a_builder_without_buildx_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs the docker buildx plugin"):
        engine(FakeDocker(), builder="pool").command(request(tmp_path), RunOptions(tmp_path / "w"), "i:1")


def test_an_environment_secret_is_passed_as_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cret")
    argv, _ = engine(FakeDocker()).command(
        request(tmp_path, secrets=(BuildSecret("tok", env="API_TOKEN"),)), RunOptions(tmp_path / "w"), "i:1"
    )
    copy = tmp_path / "w" / "secrets" / "tok"
    assert argv[argv.index("--secret") + 1] == f"id=tok,src={copy}"
    assert copy.read_text() == "s3cret"
    assert copy.stat().st_mode & 0o077 == 0
    assert "s3cret" not in " ".join(argv)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"platforms": ("linux/amd64", "linux/arm64")}, "one platform per run"),
        ({"ca_bundle": Path("/etc/ssl/certs/ca-certificates.crt")}, "cannot mount a CA bundle"),
        ({"registries": (RegistrySettings("registry.example.com", insecure=True),)}, "plain http"),
    ],
)
def test_what_the_daemon_cannot_honour_is_refused(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises((UsageError, BuildError), match=message):
        engine(FakeDocker()).command(request(tmp_path, **changes), RunOptions(tmp_path / "w"), "i:1")


def test_a_loopback_insecure_registry_is_fine(tmp_path: Path) -> None:
    registries = (RegistrySettings("127.0.0.1:5000", insecure=True),)
    engine(FakeDocker()).command(request(tmp_path, registries=registries), RunOptions(tmp_path / "w"), "i:1")


def test_identity_capabilities_noise() -> None:
    docker = engine(FakeDocker())
    identity = docker.identity()
    assert str(identity) == "docker 20.10.24+dfsg1"
    assert identity.versions() == {
        "docker": "20.10.24+dfsg1",
        "docker-client": "20.10.24+dfsg1",
        "buildkit": "embedded in docker 20.10.24+dfsg1",
    }
    capabilities = docker.capabilities()
    assert capabilities.healthcheck
    assert capabilities.secrets
    assert not capabilities.heredocs
    assert not docker.noise().labels
    assert docker.varies() == frozenset()


def test_build_streams_steps_saves_converts_and_removes_the_image(tmp_path: Path) -> None:
    lines = [
        "#1 [internal] load build definition from Dockerfile",
        "#4 [1/3] FROM 127.0.0.1:5000/busybox@sha256:abc",
        "#5 [2/3] RUN echo hi > /out.txt",
        "#5 [2/3] RUN echo hi > /out.txt",
        "#7 [3/3] COPY data.txt /data.txt",
    ]
    fake = FakeDocker(lines)
    events: list[object] = []
    output = engine(fake).build(
        request(tmp_path, annotations={"a": "1"}), RunOptions(tmp_path / "w"), progress=events.append
    )
    assert output.steps == 3
    assert output.engine.name == "docker"
    assert fake.build_env["DOCKER_BUILDKIT"] == "1"
    image = ImageLayout.open(tmp_path / "out").image("v1")
    assert image.manifest.annotations == {"a": "1"}
    assert len(image.layers) == 1
    tag = fake.calls[-1][-1]
    assert fake.calls[-1][1:4] == ["image", "rm", "--force"]
    assert tag.startswith("repro-build-")


def test_a_failed_build_is_a_build_error_and_the_image_is_removed(tmp_path: Path) -> None:
    fake = FakeDocker(["#5 [2/2] RUN false", "ERROR: executor failed running"], returncode=1)
    with pytest.raises(BuildError, match=r"(?s)exit code 1:.*executor failed"):
        engine(fake).build(request(tmp_path), RunOptions(tmp_path / "w"))
    assert fake.calls[-1][1:4] == ["image", "rm", "--force"]


def test_an_unreachable_daemon_is_a_build_error_with_a_hint() -> None:
    def down(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        from repro.errors import ProcessError

        raise ProcessError("docker version: exit code 1: Cannot connect to the Docker daemon")

    with pytest.raises(BuildError, match="Cannot connect") as info:
        DockerEngine(client=CLIENT, runner=down).identity()
    assert "--docker-host" in (info.value.hint or "")


def test_parse_step() -> None:
    event = parse_step("#7 [build 2/4] COPY . /src", 1.0)
    assert event is not None
    assert (event.step, event.steps, event.instruction) == (2, 4, "COPY . /src")
    assert parse_step("#1 [internal] load .dockerignore", 1.0) is None
    assert parse_step("#5 DONE 0.1s", 1.0) is None


def test_an_archive_whose_layer_is_not_what_its_config_says_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    docker_archive(archive, {"x": b"1"}, lie=True)
    with pytest.raises(ImageError, match="the config says"):
        docker_archive_to_layout(archive, tmp_path / "out", "v1")


def test_an_archive_without_a_manifest_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("other")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ImageError, match=r"no manifest\.json"):
        docker_archive_to_layout(archive, tmp_path / "out", "v1")
