"""``repro pin``, ``pin --check --fresh`` and ``refresh`` against real Distribution registries."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from devtools.testbed import BaseImages, RunningRegistry
from devtools.testbed.images import skopeo_copy
from repro.cli import main
from repro.errors import EXIT_CHANGED, EXIT_OK, EXIT_PARTIAL, EXIT_REGISTRY, EXIT_TAG_MOVED
from repro.platform import Platform


def _project(tmp_path: Path, dockerfile: str, *, config: str) -> Path:
    """A directory with a Dockerfile and the repro.toml that ``repro`` finds next to it."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "repro.toml").write_text(config)
    (project / "Dockerfile").write_text(dockerfile)
    return project


def _insecure(*hosts: str, extra: str = "") -> str:
    tables = "".join(f'[registries."{host}"]\ninsecure = true\n\n' for host in hosts)
    return "timeout = 10\n\n" + tables + extra


def _lock(project: Path) -> dict[str, dict[str, object]]:
    images: dict[str, dict[str, object]] = json.loads((project / "repro.lock").read_text())["images"]
    return images


def test_pin_matches_skopeo_digests(
    base_images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = base_images.host
    assert base_images.debian is not None
    project = _project(
        tmp_path,
        f"FROM {host}/debian:bookworm AS build\n"
        f"COPY --from={host}/busybox:1.36 /bin/busybox /bin/busybox\n"
        "RUN true\n"
        f"FROM {host}/multi:latest\n"
        "COPY --from=build / /\n",
        config=_insecure(host),
    )
    assert main(["pin", str(project)]) == EXIT_OK
    text = (project / "Dockerfile").read_text()
    assert text == (
        f"FROM {host}/debian:bookworm@{base_images.debian.digest} AS build\n"
        f"COPY --from={host}/busybox:1.36@{base_images.busybox_1_36.digest} /bin/busybox /bin/busybox\n"
        "RUN true\n"
        f"FROM {host}/multi:latest@{base_images.multi.digest}\n"
        "COPY --from=build / /\n"
    )
    out = capsys.readouterr().out
    assert f"{project}/Dockerfile:4: pinned {host}/multi:latest" in out

    lock = _lock(project)
    multi = lock[f"{host}/multi:latest"]
    assert multi["digest"] == base_images.multi.digest
    assert multi["media_type"] == "application/vnd.oci.image.index.v1+json"
    expected = {str(Platform.parse(p)): d for p, d in base_images.multi_manifests.items()}
    assert multi["platforms"] == expected
    assert lock[f"{host}/busybox:1.36"]["platforms"] == {}

    assert main(["pin", "--check", str(project)]) == EXIT_OK
    assert main(["pin", "--check", "--fresh", str(project)]) == EXIT_OK
    assert main(["pin", "--json", "--dry-run", str(project)]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert [i["action"] for i in report["images"]] == ["unchanged", "unchanged", "unchanged"]


def test_platforms_missing_from_the_index(
    base_images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = base_images.host
    project = _project(tmp_path, f"FROM {host}/multi:latest\n", config=_insecure(host))
    code = main(["pin", "--platform", "linux/amd64,linux/s390x", str(project)])
    assert code == EXIT_REGISTRY
    err = capsys.readouterr().err
    assert "linux/s390x" in err
    assert "Dockerfile:1" in err
    assert (project / "Dockerfile").read_text() == f"FROM {host}/multi:latest\n"

    assert main(["pin", "--platform", "linux/amd64,linux/arm64", str(project)]) == EXIT_OK
    assert base_images.multi.digest in (project / "Dockerfile").read_text()


def test_tag_moves_then_check_fails_and_refresh_rewrites(
    base_images: BaseImages,
    fresh_registry: RunningRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = fresh_registry.host
    skopeo_copy(f"oci:{base_images.busybox.layout}:latest", fresh_registry, "app/base:1")
    project = _project(
        tmp_path,
        f"# syntax={host}/app/base:1\nARG BASE={host}/app/base:1\nFROM ${{BASE}}\nRUN true\n",
        config=_insecure(host),
    )
    assert main(["pin", str(project)]) == EXIT_OK
    assert main(["pin", "--check", "--fresh", str(project)]) == EXIT_OK
    old = base_images.busybox.digest
    assert (project / "Dockerfile").read_text().count(f"{host}/app/base:1@{old}") == 2
    capsys.readouterr()

    # Move the tag: push another image under the same name and tag.
    skopeo_copy(f"oci:{base_images.multi.layout}:latest", fresh_registry, "app/base:1", all_images=True)
    new = base_images.multi.digest

    assert main(["pin", "--check", str(project)]) == EXIT_OK, "the offline check does not notice"
    assert main(["pin", "--check", "--fresh", "--format", "github", str(project)]) == EXIT_TAG_MOVED
    annotations = capsys.readouterr().out.splitlines()
    assert len(annotations) == 2
    assert annotations[0].startswith(f"::error file={project}/Dockerfile,line=1,")
    assert new in annotations[0]

    assert main(["refresh", "--exit-code", str(project)]) == EXIT_CHANGED
    markdown = capsys.readouterr().out
    assert f"| `{host}/app/base:1` | `{old}` | `{new}` |" in markdown
    assert f"`{project}/Dockerfile:1`" in markdown
    assert f"`{project}/Dockerfile:2`" in markdown
    text = (project / "Dockerfile").read_text()
    assert (
        text
        == f"# syntax={host}/app/base:1@{new}\nARG BASE={host}/app/base:1@{new}\nFROM ${{BASE}}\nRUN true\n"
    )
    assert _lock(project)[f"{host}/app/base:1"]["digest"] == new

    assert main(["pin", "--check", "--fresh", str(project)]) == EXIT_OK
    assert main(["refresh", "--exit-code", str(project)]) == EXIT_OK
    assert "No base image updates" in capsys.readouterr().out


def test_token_auth_registry(
    token_registry: RunningRegistry,
    token_base_images: BaseImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = token_registry.host
    assert token_registry.username is not None
    assert token_registry.password is not None
    auth = base64.b64encode(f"{token_registry.username}:{token_registry.password}".encode()).decode()
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    project = _project(tmp_path, f"FROM {host}/busybox:latest\n", config=_insecure(host))
    assert main(["pin", str(project)]) == EXIT_OK
    assert (project / "Dockerfile").read_text() == f"FROM {token_base_images.busybox.pinned}\n"


def test_docker_hub_through_a_mirror(
    base_images: BaseImages, fresh_registry: RunningRegistry, tmp_path: Path
) -> None:
    host = fresh_registry.host
    skopeo_copy(f"oci:{base_images.busybox.layout}:latest", fresh_registry, "hub/library/busybox:latest")
    mirror = f'[registries."docker.io"]\nmirrors = ["{host}/hub"]\n'
    project = _project(
        tmp_path,
        "FROM busybox\nFROM docker.io/library/busybox:latest\n"
        "FROM index.docker.io/library/busybox:latest\nFROM registry-1.docker.io/library/busybox:latest\n",
        config=_insecure(host, extra=mirror),
    )
    assert main(["pin", str(project)]) == EXIT_OK
    digest = base_images.busybox.digest
    # Docker Hub's other names go through docker.io's mirror; the spelling is kept.
    assert (project / "Dockerfile").read_text() == (
        f"FROM busybox:latest@{digest}\nFROM docker.io/library/busybox:latest@{digest}\n"
        f"FROM index.docker.io/library/busybox:latest@{digest}\n"
        f"FROM registry-1.docker.io/library/busybox:latest@{digest}\n"
    )
    assert list(_lock(project)) == [
        "docker.io/library/busybox:latest",
        "registry-1.docker.io/library/busybox:latest",
    ]


def test_registry_down(
    base_images: BaseImages,
    fresh_registry: RunningRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = fresh_registry.host
    skopeo_copy(f"oci:{base_images.busybox.layout}:latest", fresh_registry, "down/base:1")
    project = _project(tmp_path, f"FROM {host}/down/base:1\n", config=_insecure(host))
    assert main(["pin", str(project)]) == EXIT_OK
    (project / "Dockerfile.new").write_text(f"FROM {host}/down/other:2\n")
    fresh_registry.stop()
    capsys.readouterr()

    assert main(["pin", "--check", "--fresh", str(project / "Dockerfile")]) == EXIT_REGISTRY
    assert "could not check" in capsys.readouterr().out
    # Each file on its own: Dockerfile.new has nothing to refresh, Dockerfile's tag
    # cannot be asked: partly done.
    assert main(["refresh", str(project)]) == EXIT_PARTIAL
    assert main(["refresh", str(project / "Dockerfile")]) == EXIT_REGISTRY
    # The pinned Dockerfile needs no registry; the unpinned one cannot be pinned.
    assert main(["pin", str(project)]) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert f"{project / 'Dockerfile.new'}:1: failed: {host}/down/other:2" in err
    assert (project / "Dockerfile.new").read_text() == f"FROM {host}/down/other:2\n"
