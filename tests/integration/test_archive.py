"""``repro build -o oci-archive:/docker-archive:`` with real buildah, read back by skopeo and Docker."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from devtools.testbed.dockerd import DOCKER_CLIENT, DOCKER_PROGRAMS, RunningDockerDaemon, start_docker_daemon
from repro.attest.keys import write_keypair
from repro.attest.referrers import ANNOTATION_PREDICATE_TYPE, BUNDLE_ARTIFACT_TYPE
from repro.cli import main
from repro.digest import Digest
from repro.errors import EXIT_IMAGE, EXIT_MISSING_ATTESTATION, EXIT_OK, EXIT_USAGE
from repro.images.location import parse_location
from repro.images.store import open_store
from repro.oci.layout import ImageLayout
from repro.oci.models import Manifest
from tests.integration.assets import make_context
from tests.programs import require_programs

pytestmark = pytest.mark.buildah

EPOCH = 1704067200


@pytest.fixture
def images(base_images: BaseImages, monkeypatch: pytest.MonkeyPatch) -> BaseImages:
    require_programs("buildah", "skopeo")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    return base_images


@pytest.fixture(scope="module")
def archives(base_images: BaseImages, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The busybox app built to each kind of archive twice (once of them through repro verify)
    and once to a layout."""
    require_programs("buildah", "skopeo")
    root = tmp_path_factory.mktemp("archives")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        built: dict[str, Path] = {}
        for run in ("1", "2"):
            ctx = make_context("busybox-app", root / f"ctx{run}", base_images)
            built[f"oci{run}"] = root / f"app{run}.oci.tar"
            built[f"docker{run}"] = root / f"app{run}.docker.tar"
            command = "build" if run == "1" else "verify"  # verify -o writes the archive too
            assert main([command, str(ctx), "-o", f"oci-archive:{built[f'oci{run}']}:app"]) == EXIT_OK
            argv = ["build", str(ctx), "-t", "example.org/greet:2", "-o"]
            assert main([*argv, f"docker-archive:{built[f'docker{run}']}:greet:1.0"]) == EXIT_OK
        assert main(["build", str(root / "ctx1"), "-o", f"oci:{root / 'layout'}:app"]) == EXIT_OK
        built["layout"] = root / "layout"
        yield built


def skopeo(*argv: str) -> str:
    done = subprocess.run(["skopeo", *argv], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_builds_give_byte_identical_archives(archives: dict[str, Path]) -> None:
    for kind in ("oci", "docker"):
        first, second = archives[f"{kind}1"].read_bytes(), archives[f"{kind}2"].read_bytes()
        assert first == second, kind
        with tarfile.open(archives[f"{kind}1"]) as tar:
            members = tar.getmembers()
        assert [m.name for m in members] == sorted(m.name for m in members)
        assert {(m.mtime, m.uid, m.gid) for m in members} == {(0, 0, 0)}


def test_skopeo_reads_the_oci_archive_as_the_image_built(archives: dict[str, Path], tmp_path: Path) -> None:
    layout = ImageLayout.open(archives["layout"])
    built = layout.find("app").digest
    skopeo("copy", f"oci-archive:{archives['oci1']}:app", f"oci:{tmp_path / 'copy'}:app")
    assert ImageLayout.open(tmp_path / "copy").find("app").digest == built


def test_skopeo_reads_the_docker_archive_with_the_same_config_and_layers(archives: dict[str, Path]) -> None:
    image = ImageLayout.open(archives["layout"]).image("app")
    diff_ids = image.config["rootfs"]["diff_ids"]
    raw = json.loads(skopeo("inspect", "--raw", f"docker-archive:{archives['docker1']}:greet:1.0"))
    assert raw["config"]["digest"] == str(image.manifest.config.digest)
    assert [layer["digest"] for layer in raw["layers"]] == diff_ids  # uncompressed, as docker save has them
    inspected = json.loads(skopeo("inspect", f"docker-archive:{archives['docker1']}:example.org/greet:2"))
    assert inspected["Layers"] == diff_ids


def test_sbom_and_diff_read_archives(
    archives: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["sbom", f"oci:{archives['layout']}:app", "-o", "table", "--name", "greet"]) == EXIT_OK
    from_layout = capsys.readouterr().out
    assert "busybox" in from_layout
    for text in (f"oci-archive:{archives['oci1']}:app", f"docker-archive:{archives['docker1']}"):
        assert main(["sbom", text, "-o", "table", "--name", "greet"]) == EXIT_OK
        assert capsys.readouterr().out == from_layout
    assert main(["diff", f"oci:{archives['layout']}:app", f"oci-archive:{archives['oci2']}"]) == EXIT_OK
    assert "identical" in capsys.readouterr().out.lower()
    assert (
        main(["diff", f"docker-archive:{archives['docker1']}", f"docker-archive:{archives['docker2']}"]) == 0
    )


def test_push_packs_a_layout_into_the_same_archive_and_release_refuses_one(
    archives: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packed = tmp_path / "packed.tar"
    assert main(["push", f"oci:{archives['layout']}:app", f"oci-archive:{packed}:app"]) == EXIT_OK
    built = ImageLayout.open(archives["layout"]).find("app").digest
    store = open_store(parse_location(f"oci-archive:{packed}:app"))
    assert store.get_manifest().digest == built
    capsys.readouterr()
    argv = ["release", str(tmp_path), "--image", "app:1", "--push", f"oci-archive:{tmp_path / 'r.tar'}"]
    assert main(argv) == EXIT_USAGE
    assert "--push takes no oci-archive" in capsys.readouterr().err


def test_a_hostile_archive_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = tmp_path / "hostile.tar"
    with tarfile.open(hostile, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../../../etc/passwd"
        tar.addfile(info)
    public = write_keypair(tmp_path / "k", b"pass").public_key
    for command in (
        ["sbom", f"docker-archive:{hostile}"],
        ["verify-image", f"docker-archive:{hostile}", "--key", str(public)],
        ["diff", f"docker-archive:{hostile}", f"docker-archive:{hostile}"],
        ["push", f"docker-archive:{hostile}", f"oci:{tmp_path / 'out'}"],
    ):
        capsys.readouterr()
        assert main(command) == EXIT_IMAGE, command
        assert "outside the archive" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_release_from_stdin_verifies_from_an_oci_archive(
    images: BaseImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``release -f -``, then the release as an OCI archive: its signatures travel with it."""
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    dockerfile = (ctx / "Dockerfile").read_bytes() + b"USER 65534:65534\n"  # the release policy wants no root
    (ctx / "Dockerfile").unlink()  # only stdin has it
    pair = write_keypair(tmp_path / "signing", b"archive test")
    monkeypatch.setenv("REPRO_KEY_PASSWORD", "archive test")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(dockerfile)))
    argv = ["release", str(ctx), "-f", "-", "--image", "greet:1.0", "--key", str(pair.private_key), "--json"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    digest = json.loads(captured.out)["digest"]
    provenance = json.loads(provenance_statement(tmp_path / "dist"))
    assert provenance["predicate"]["buildDefinition"]["externalParameters"]["dockerfile"] == (
        f"- (stdin, {Digest.of(dockerfile)})"
    )

    archive = tmp_path / "release.tar"
    assert main(["push", "oci:dist:1.0", f"oci-archive:{archive}:1.0"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"oci-archive:{archive}:1.0@{digest}"
    public = str(pair.public_key)
    assert main(["verify-image", f"oci-archive:{archive}:1.0", "--key", public]) == EXIT_OK
    assert len(capsys.readouterr().out.splitlines()) == 4  # provenance, SBOM, reproducibility, signature

    # A docker archive cannot carry the signatures: said, not dropped.
    docker_archive = f"docker-archive:{tmp_path / 'release.docker.tar'}:greet:1.0"
    assert main(["push", "oci:dist:1.0", docker_archive]) == EXIT_USAGE
    assert "cannot hold the image's 5 referrers" in capsys.readouterr().err  # 4 bundles and the SBOM
    assert main(["push", "oci:dist:1.0", docker_archive, "--no-referrers"]) == EXIT_OK
    assert main(["verify-image", docker_archive, "--key", public]) == EXIT_MISSING_ATTESTATION


def provenance_statement(layout_dir: Path) -> bytes:
    """The SLSA provenance statement inside its Sigstore bundle, a referrer in the layout."""
    layout = ImageLayout.open(layout_dir)
    for entry in layout.index().manifests:
        manifest = layout.manifest(entry)
        if not isinstance(manifest, Manifest) or manifest.artifact_type != BUNDLE_ARTIFACT_TYPE:
            continue
        if "slsa.dev/provenance" not in manifest.annotations.get(ANNOTATION_PREDICATE_TYPE, ""):
            continue
        bundle = json.loads(layout.read_blob(manifest.layers[0].digest))
        return base64.b64decode(bundle["dsseEnvelope"]["payload"])
    raise AssertionError("no provenance bundle in the layout")


@pytest.fixture
def docker_daemon(tmp_path: Path) -> Iterator[RunningDockerDaemon]:
    require_programs(*DOCKER_PROGRAMS)
    with start_docker_daemon(tmp_path / "dockerd") as daemon:
        yield daemon


@pytest.mark.docker
def test_docker_loads_the_docker_archive(
    archives: dict[str, Path], docker_daemon: RunningDockerDaemon
) -> None:
    image = ImageLayout.open(archives["layout"]).image("app")
    docker = [DOCKER_CLIENT, "--host", docker_daemon.unix_host]
    loaded = subprocess.run(
        [*docker, "load", "-i", str(archives["docker1"])],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded image: greet:1.0" in loaded.stdout
    for name in ("greet:1.0", "example.org/greet:2"):
        inspected = subprocess.run(
            [*docker, "image", "inspect", name], capture_output=True, text=True, check=True, timeout=60
        )
        found = json.loads(inspected.stdout)[0]
        assert (
            Digest.parse(found["Id"]) == image.manifest.config.digest
        )  # Docker's image ID is the config digest
        assert found["RootFS"]["Layers"] == image.config["rootfs"]["diff_ids"]
