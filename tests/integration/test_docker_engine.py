"""``repro build/verify --engine docker`` against Docker Engines of the test bed: one on a
unix socket, and the same daemon over ``tcp://`` with TLS client certificates, standing in
for a remote builder."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testbed import BaseImages, RegistryFactory, RunningRegistry
from devtools.testbed.dockerd import DOCKER_CLIENT, DOCKER_PROGRAMS, RunningDockerDaemon, start_docker_daemon
from repro.build.dockerbase import check_base
from repro.cli import main
from repro.config import Config, RegistryConfig
from repro.errors import EXIT_BUILD, EXIT_NOT_REPRODUCIBLE, EXIT_OK, BuildError
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


def _copy(source_host: str, source: str, target: RunningRegistry, destination: str) -> None:
    """skopeo copy between plain-http test registries, digests preserved."""
    subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "--quiet", "--preserve-digests", "--src-tls-verify=false",
         *target.skopeo_args("dest"), f"docker://{source_host}/{source}", f"docker://{target.host}/{destination}"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def test_docker_pulls_the_pinned_digest_through_repros_mirrors(
    docker_daemon: RunningDockerDaemon,
    images: BaseImages,
    registry_factory: RegistryFactory,
    tmp_path: Path,
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """repro's mirrors apply to the docker engine, and only the pinned digest is pulled: a
    mirror holding other content under the same tag is passed over, a mirror holding the
    pinned image serves the build alone, and an image the daemon built on that is not the
    pinned base is refused."""
    origin, mirror = registry_factory("plain"), registry_factory("plain")
    _copy(images.host, f"busybox@{images.busybox.digest}", origin, "busybox:latest")
    # The attack: the mirror serves other content (the arm64 busybox) under the same tag.
    arm64 = images.multi_manifests["linux/arm64/v8"]
    _copy(images.host, f"multi@{arm64}", mirror, "busybox:latest")
    config = tmp_path / "mirrors.toml"
    config.write_text(
        f'[engines.docker]\nnetwork = "host"\nclient = "{DOCKER_CLIENT}"\n'
        f'[registries."{origin.host}"]\nmirrors = ["{mirror.host}"]\ninsecure = true\n'
        f'[registries."{mirror.host}"]\ninsecure = true\n'
    )
    monkeypatch.setenv("REPRO_CONFIG", str(config))
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", f"{origin.host},{mirror.host},{images.host}")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {origin.host}/busybox:latest@{images.busybox.digest}\nRUN echo hi > /hi\n"
    )
    argv = ["build", str(ctx), "--engine", "docker", "--docker-host", docker_daemon.unix_host, "--json"]

    assert main([*argv, "-o", f"oci:{tmp_path / 'a'}"]) == EXIT_OK, capsys.readouterr().err
    first = json.loads(capsys.readouterr().out)

    # The mirror gets the pinned image too; with the origin gone the build goes through the mirror.
    _copy(images.host, f"busybox@{images.busybox.digest}", mirror, "busybox:pinned")
    origin.stop()
    assert main([*argv, "-o", f"oci:{tmp_path / 'b'}"]) == EXIT_OK, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["digest"] == first["digest"]

    # An image the daemon built on other content than the pinned base is refused.
    with pytest.raises(BuildError, match="other content than the pinned base"):
        check_base(
            tmp_path / "a", "latest", f"{mirror.host}/busybox@{arm64}",
            config=Config(registries={mirror.host: RegistryConfig(insecure=True)}),
        )  # fmt: skip


def test_release_with_docker_signs_pushes_and_verifies(
    docker_daemon: RunningDockerDaemon,
    images: BaseImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``repro release --engine docker`` end to end, as the buildah release test: key
    signing through the CLI, then keyless through the Sigstore test double."""
    from sigstore.oidc import IdentityToken

    from devtools.attest_double import ISSUER, LocalSigstore
    from repro.attest.keys import load_public_key, write_keypair
    from repro.attest.referrers import BUNDLE_ARTIFACT_TYPE
    from repro.attest.sign import KeylessSigner
    from repro.attest.statements import SLSA_PROVENANCE_V1
    from repro.attest.verify_image import IdentityTrust, KeyTrust, verify_image
    from repro.build import BuildSpec
    from repro.build.docker import DockerEngine
    from repro.images.push import CYCLONEDX_JSON
    from repro.registry import RegistryClient
    from repro.release import ReleaseOptions, release

    monkeypatch.setenv("REPRO_KEY_PASSWORD", "docker release test")
    monkeypatch.chdir(tmp_path)
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    with (ctx / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("USER 65534:65534\n")  # the default policy refuses root
    (tmp_path / "keys").mkdir()
    key = write_keypair(tmp_path / "keys" / "signing", b"docker release test").private_key
    target = f"{images.host}/release-docker/app:1.0"
    argv = ["release", str(ctx), "--engine", "docker", "--docker-host", docker_daemon.unix_host]
    code = main([*argv, "--image", target, "--sign", "key", "--key", str(key), "--push", target])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    assert "repro release: pin: passed" in captured.err

    config = Config(registries={images.host: RegistryConfig(insecure=True)}, timeout=10.0)
    with RegistryClient(config) as client:
        digest = client.resolve(parse_reference(target)).digest
        referrers = client.referrers(images.host, "release-docker/app", digest)
        result = verify_image(target, KeyTrust(load_public_key(key.with_suffix(".pub"))), client=client)
    assert f"published: `{images.host}/release-docker/app:1.0@{digest}`" in captured.out
    assert sorted(r.artifact_type or "" for r in referrers) == sorted(
        [BUNDLE_ARTIFACT_TYPE] * 4 + [CYCLONEDX_JSON]
    )
    assert main(["verify-image", target, "--key", str(key.with_suffix(".pub"))]) == EXIT_OK
    assert len(capsys.readouterr().out.splitlines()) == 4
    [provenance] = [v.statement for v in result.verified if v.predicate_type == SLSA_PROVENANCE_V1]
    assert provenance.predicate["buildDefinition"]["buildType"] == "https://repro.dev/buildtypes/docker/v1"
    versions = provenance.predicate["runDetails"]["builder"]["version"]
    assert versions["docker"].startswith("20.10")
    assert versions["buildkit"].startswith("embedded in docker 20.10")

    # Keyless, through the Sigstore test double (public Sigstore is out of reach here),
    # checked with sigstore's real Verifier; the same image as the key-signed release.
    double = LocalSigstore()
    identity = "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1"
    signer = KeylessSigner(double.signing_context(), IdentityToken(double.identity_token(identity)))
    trust = IdentityTrust(issuer=ISSUER, trusted_root=double.trusted_root(), identity=identity)
    keyless = f"{images.host}/release-docker-keyless/app:1.0"
    engine = DockerEngine(host=docker_daemon.unix_host, network="host", client=DOCKER_CLIENT)
    report = release(
        ReleaseOptions(
            BuildSpec(ctx), image=keyless, sign="keyless", push=keyless, workdir=tmp_path / "keyless"
        ),
        config=config,
        engines=[engine],
        signer=signer,
        trust=trust,
    )
    assert report.digest == str(digest)
    assert len(report.verified) == 4
    with RegistryClient(config) as client:
        assert len(verify_image(keyless, trust, client=client).verified) == 4
