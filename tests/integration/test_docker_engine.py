"""``repro build/verify --engine docker`` against Docker Engines of the test bed: one on a
unix socket, and the same daemon over ``tcp://`` with TLS client certificates, standing in
for a remote builder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from devtools.testbed.dockerd import DOCKER_CLIENT, DOCKER_PROGRAMS, RunningDockerDaemon, start_docker_daemon
from repro.cli import main
from repro.errors import EXIT_BUILD, EXIT_NOT_REPRODUCIBLE, EXIT_OK
from repro.oci.layout import ImageLayout
from repro.reference import parse_reference
from tests.integration.assets import make_context
from tests.programs import require_programs

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EPOCH = 1704067200


@pytest.fixture(scope="session")
def docker_daemon(testbed_dir: Path) -> Iterator[RunningDockerDaemon]:
    """A dockerd with its own state, a unix socket and a TLS listener; stopped at the end."""
    require_programs(*DOCKER_PROGRAMS)
    with start_docker_daemon(testbed_dir / "dockerd", tls=True) as daemon:
        yield daemon


@pytest.fixture
def images(base_images: BaseImages, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> BaseImages:
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    # The daemon has no bridge network: RUN steps use the host's.
    config = tmp_path / "repro.toml"
    config.write_text(f'[engines.docker]\nnetwork = "host"\nclient = "{DOCKER_CLIENT}"\n')
    monkeypatch.setenv("REPRO_CONFIG", str(config))
    return base_images


def test_build_and_verify_with_docker_on_a_local_socket(
    docker_daemon: RunningDockerDaemon, images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    out = tmp_path / "out"
    argv = ["build", str(ctx), "--engine", "docker", "--docker-host", docker_daemon.unix_host]
    assert main([*argv, "-o", f"oci:{out}:app", "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["engine"]["name"] == "docker"
    assert result["engine"]["components"]["buildkit"].startswith("embedded in docker 20.10")
    image = ImageLayout.open(out).image("app")
    assert str(image.digest) == result["digest"]
    assert image.config["config"]["Labels"] == {"org.opencontainers.image.title": "greet"}
    assert not {"container", "container_config", "docker_version"} & image.config.keys()

    verify = ["verify", str(ctx), "--engine", "docker", "--docker-host", docker_daemon.unix_host, "--json"]
    assert main(verify) == EXIT_OK
    verified = json.loads(capsys.readouterr().out)
    assert verified["reproducible"] is True
    assert verified["digest"] == result["digest"]  # the same image as the single build


def test_a_remote_daemon_over_tls(
    docker_daemon: RunningDockerDaemon,
    images: BaseImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    assert docker_daemon.tcp_host is not None
    # Without the client certificate the daemon refuses: the build fails, nothing is written.
    argv = ["build", str(ctx), "--engine", "docker", "--docker-host", docker_daemon.tcp_host]
    assert main([*argv, "-o", f"oci:{tmp_path / 'refused'}"]) == EXIT_BUILD
    assert not (tmp_path / "refused").exists()
    capsys.readouterr()
    for name, value in docker_daemon.environment(tls=True).items():
        monkeypatch.setenv(name, value)
    assert (
        main(["build", str(ctx), "--engine", "docker", "-o", f"oci:{tmp_path / 'out'}", "--json"]) == EXIT_OK
    )
    assert json.loads(capsys.readouterr().out)["engine"]["name"] == "docker"


def test_buildah_and_docker_build_the_busybox_app_byte_for_byte(
    docker_daemon: RunningDockerDaemon, images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two independent engines, one image: ``repro verify --engines buildah,docker``."""
    require_programs("buildah")
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    out = tmp_path / "out"
    argv = ["verify", str(ctx), "--engines", "buildah,docker", "--docker-host", docker_daemon.unix_host]
    assert main([*argv, "-o", f"oci:{out}:app", "--json"]) == EXIT_OK, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["reproducible"] is True
    assert [b["engine"]["name"] for b in result["builds"]] == ["buildah", "docker"]
    assert result["digests"][0] == result["digests"][1]
    image = ImageLayout.open(out).image("app")
    assert str(image.digest) == result["digest"]
    # The canonical history: the Dockerfile's words, buildah's marker of the base.
    history = image.config["history"]
    assert (
        history[1]["comment"] == f"FROM {parse_reference(images.busybox.pinned).name}@{images.busybox.digest}"
    )
    assert [h["created_by"].split()[0] for h in history[1:]] == ["COPY", "RUN", "ENV", "LABEL", "CMD"]


def test_what_still_differs_across_engines_is_named(
    docker_daemon: RunningDockerDaemon, images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A WORKDIR that creates its directory: BuildKit commits a layer for it, buildah creates
    the directory in the next layer. The images differ, and the report says where."""
    require_programs("buildah")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {images.busybox.pinned}\nWORKDIR /app\nRUN echo hi > hi\n")
    argv = ["verify", str(ctx), "--engines", "buildah,docker", "--docker-host", docker_daemon.unix_host]
    assert main([*argv, "--json"]) == EXIT_NOT_REPRODUCIBLE
    result = json.loads(capsys.readouterr().out)
    assert result["reproducible"] is False
    diff = result["diff"]
    assert (diff["a"]["layers"], diff["b"]["layers"]) == (2, 3)
    assert [c["path"] for c in diff["config_changes"]] == ["history[1].empty_layer"]
    findings = {f["culprit"]: f for f in diff["findings"]}
    assert "layer-count" in findings
    assert findings["presence"]["location"] == f"{ctx / 'Dockerfile'}:3"
    assert findings["presence"]["paths"] == ["app/hi"]
