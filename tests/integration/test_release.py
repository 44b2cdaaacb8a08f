"""``repro release`` end to end with the real buildah and real registries: a release that
goes through, one that is not reproducible, one the policy gate denies, a registry that
dies in the middle of the push, and a base-image refresh with an SBOM diff."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import requests
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement as InTotoStatement

from devtools.testbed import BaseImages, RunningRegistry
from devtools.testbed.images import skopeo_copy
from devtools.testbed.proxy import FaultProxy, Hook, SeenRequest
from repro import errors
from repro.attest.keys import load_public_key, write_keypair
from repro.attest.provenance import context_dir_hash
from repro.attest.referrers import BUNDLE_ARTIFACT_TYPE
from repro.attest.statements import COSIGN_SIGN_V1, SLSA_PROVENANCE_V1
from repro.attest.verify_image import KeyTrust, verify_image
from repro.cli import main
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.errors import (
    EXIT_OK,
    EXIT_RELEASE_BUILD,
    EXIT_RELEASE_POLICY,
    EXIT_RELEASE_PUSH,
)
from repro.images.push import CYCLONEDX_JSON
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import Manifest
from repro.reference import parse_reference
from repro.registry import RegistryClient
from tests.programs import require_programs

pytestmark = [pytest.mark.buildah, pytest.mark.slow]

PASSWORD = "release test passphrase"

APP = """\
FROM {base}
COPY greeting.txt /app/greeting.txt
RUN mkdir -p /app/bin && printf '#!/bin/sh\\ncat /app/greeting.txt\\n' > /app/bin/greet && chmod 755 /app/bin/greet
LABEL org.opencontainers.image.title="greet"
USER 65534:65534
CMD ["/app/bin/greet"]
"""


@pytest.fixture
def images(base_images: BaseImages, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> BaseImages:
    """Base images, buildah, a key passphrase, a step summary file, and a private cwd."""
    require_programs("buildah")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1704067200")
    monkeypatch.setenv("REPRO_KEY_PASSWORD", PASSWORD)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step-summary.md"))
    monkeypatch.chdir(tmp_path)
    return base_images


def make_app(directory: Path, base: str, dockerfile: str = APP) -> Path:
    directory.mkdir(parents=True)
    (directory / "greeting.txt").write_text("hello, released world\n")
    (directory / "Dockerfile").write_text(dockerfile.format(base=base))
    return directory


def make_key(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pair = write_keypair(directory / "signing", PASSWORD.encode())
    return pair.private_key


def tags(registry_url: str, repository: str) -> list[str]:
    """The repository's tags, without the referrers fallback tags (``sha256-…``)."""
    response = requests.get(f"{registry_url}/v2/{repository}/tags/list", timeout=10)
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return sorted(t for t in response.json().get("tags") or [] if not t.startswith("sha256-"))


def client_for(*hosts: str) -> RegistryClient:
    return RegistryClient(Config(registries={h: RegistryConfig(insecure=True) for h in hosts}, timeout=10.0))


def test_release_signs_pushes_and_verifies(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(tmp_path / "app", images.busybox.pinned)
    key = make_key(tmp_path / "keys")
    target = f"{images.host}/release-ok/app:1.0"
    code = main(
        ["release", str(app), "--image", target, "--sign", "key", "--key", str(key), "--push", target]
    )
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    assert "repro release: pin: passed" in captured.err  # plain progress lines off a TTY

    with client_for(images.host) as client:
        resolved = client.resolve(parse_reference(target))
        digest = resolved.digest
        referrers = client.referrers(images.host, "release-ok/app", digest)
    assert f"`{digest}`" in captured.out  # the Markdown summary names the digest
    assert f"published: `{images.host}/release-ok/app:1.0@{digest}`" in captured.out
    assert tags(f"http://{images.host}", "release-ok/app") == ["1.0"]
    kinds = sorted(r.artifact_type or "" for r in referrers)
    assert kinds == sorted([BUNDLE_ARTIFACT_TYPE] * 4 + [CYCLONEDX_JSON])

    summary = (tmp_path / "step-summary.md").read_text()
    assert str(digest) in summary
    assert "released" in summary

    assert main(["verify-image", target, "--key", str(key.with_suffix(".pub"))]) == EXIT_OK
    verified = capsys.readouterr().out.splitlines()
    assert len(verified) == 4

    # The provenance says what was built: no git here, so the context's dirHash only, and
    # the base image as a package URL.
    with client_for(images.host) as client:
        result = verify_image(target, KeyTrust(load_public_key(key.with_suffix(".pub"))), client=client)
    [provenance] = [v.statement for v in result.verified if v.predicate_type == SLSA_PROVENANCE_V1]
    definition = provenance.predicate["buildDefinition"]
    context = context_dir_hash(app)
    assert definition["internalParameters"]["buildContext"] == {
        "digest": {"dirHash": context.dir_hash},
        "files": 2,
        "git": False,
    }
    base = parse_reference(images.busybox.pinned)
    uris = [d.get("uri") for d in definition["resolvedDependencies"]]
    assert (
        f"pkg:docker/{base.path}@sha256%3A{base.digest.hex if base.digest else ''}?repository_url={base.domain}"
        in uris
    )

    # Independent checkers: in-toto's strict models for each signed statement, and the
    # CycloneDX 1.6 strict schema for the plain SBOM referrer.
    for attestation in result.verified:
        if attestation.predicate_type == COSIGN_SIGN_V1:
            # cosign's own signature statement has an empty predicate, as cosign writes it;
            # the in-toto library's validate() wants a non-empty one.
            continue
        proto = json_format.Parse(
            attestation.statement.to_bytes().decode(), statement_pb2.Statement(), ignore_unknown_fields=False
        )
        InTotoStatement.copy_from_pb(proto).validate()
    json_format.ParseDict(provenance.predicate, provenance_pb2.Provenance(), ignore_unknown_fields=False)
    [sbom_referrer] = [r for r in referrers if r.artifact_type == CYCLONEDX_JSON]
    with client_for(images.host) as client:
        sbom_manifest = client.get_manifest(
            parse_reference(f"{images.host}/release-ok/app@{sbom_referrer.digest}")
        )
        assert isinstance(sbom_manifest, Manifest)
        [layer] = sbom_manifest.layers
        buffer = io.BytesIO()
        client.fetch_blob(images.host, "release-ok/app", layer.digest, buffer, size=layer.size)
    errors_found = JsonStrictValidator(SchemaVersion.V1_6).validate_str(buffer.getvalue().decode())
    assert errors_found is None, errors_found
    assert json.loads(buffer.getvalue())["specVersion"] == "1.6"


def test_a_build_that_is_not_reproducible_is_not_released(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dockerfile = APP.replace("LABEL", "RUN date > /built-at\nLABEL")
    app = make_app(tmp_path / "app", images.busybox.pinned, dockerfile)
    target = f"{images.host}/release-unrepro/app:1.0"
    report = tmp_path / "report.json"
    code = main(["release", str(app), "--image", target, "--push", target, "--report", str(report)])
    captured = capsys.readouterr()
    assert code == EXIT_RELEASE_BUILD
    assert "release stopped at the build stage: not reproducible" in captured.err
    assert "built-at" in captured.out  # the diff report, in the summary
    assert tags(f"http://{images.host}", "release-unrepro/app") == []
    data = json.loads(report.read_text())
    assert data["status"] == "failed"
    assert data["error"]["exit_code"] == EXIT_RELEASE_BUILD
    assert [s["name"] for s in data["stages"]] == ["source", "pin", "build"]
    assert data["attestations"] == []
    assert not (tmp_path / "dist").exists()


def test_the_policy_gate_stops_a_release_before_signing(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(tmp_path / "app", images.busybox.pinned, APP.replace("USER 65534:65534", "USER root"))
    target = f"{images.host}/release-denied/app:1.0"
    code = main(["release", str(app), "--image", target, "--push", target, "--json"])
    captured = capsys.readouterr()
    assert code == EXIT_RELEASE_POLICY
    data = json.loads(captured.out)
    assert [s["name"] for s in data["stages"]] == ["source", "pin", "build", "sbom", "policy"]
    assert data["stages"][-1]["status"] == "failed"
    assert any(f["id"] == "REPRO-USER-001" for f in data["policy"]["findings"])
    assert data["signer"] is None
    assert data["attestations"] == []
    assert tags(f"http://{images.host}", "release-denied/app") == []  # nothing pushed


def test_a_registry_that_dies_mid_push_leaves_no_tag_and_a_rerun_completes(
    images: BaseImages,
    fresh_registry: RunningRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app(tmp_path / "app", images.busybox.pinned)
    with FaultProxy(fresh_registry.url) as proxy:
        monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", f"{images.host},{proxy.host},{fresh_registry.host}")
        monkeypatch.setenv("REPRO_TIMEOUT", "3")

        def kill(seen: SeenRequest) -> None:
            fresh_registry.kill()

        # The first manifest PUT comes after every layer blob: the registry dies there.
        proxy.add(Hook(kill), path=r"/manifests/", methods=("PUT",), times=1)
        target = f"{proxy.host}/app:1.0"
        assert main(["release", str(app), "--image", target, "--push", target]) == EXIT_RELEASE_PUSH
        assert "release stopped at the push stage" in capsys.readouterr().err

        fresh_registry.restart()
        proxy.clear()
        assert tags(fresh_registry.url, "app") == []  # no tag points at the partial image
        assert main(["release", str(app), "--image", target, "--push", target]) == EXIT_OK
        capsys.readouterr()
        assert tags(fresh_registry.url, "app") == ["1.0"]
    dist_key = tmp_path / ".repro" / "release.pub"
    assert dist_key.is_file()  # the local key signed both runs
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", fresh_registry.host)
    assert main(["verify-image", f"{fresh_registry.host}/app:1.0", "--key", str(dist_key)]) == EXIT_OK


def _moved_base(source: Path, work: Path) -> Path:
    """The busybox base with one more layer: a dpkg status file naming one package."""
    shutil.copytree(source, work)
    layout = ImageLayout.open(work)
    image = layout.image(layout.tags()[0])
    status = (
        b"Package: greeting-data\nStatus: install ok installed\nVersion: 1.2-1\n"
        b"Architecture: all\nMaintainer: nobody\nDescription: test data\n\n"
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("var", "var/lib", "var/lib/dpkg"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("var/lib/dpkg/status")
        info.size, info.mode = len(status), 0o644
        tar.addfile(info, io.BytesIO(status))
    layer = layout.write_blob(buffer.getvalue(), media.OCI_LAYER_TAR)
    config = dict(image.config)
    config["rootfs"] = {"type": "layers", "diff_ids": [*config["rootfs"]["diff_ids"], str(layer.digest)]}
    config["history"] = [*config.get("history", []), {"created_by": "test: base image refresh"}]
    config_desc = layout.write_blob(json.dumps(config, sort_keys=True).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [*(d.to_json() for d in image.manifest.layers), layer.to_json()],
    }
    layout.set_tag("moved", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    return work


def test_refresh_then_release_reports_the_package_changes(
    images: BaseImages,
    fresh_registry: RunningRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", f"{images.host},{fresh_registry.host}")
    skopeo_copy(f"oci:{images.busybox.layout}:{images.busybox.tag}", fresh_registry, "base/busybox:stable")
    base = f"{fresh_registry.host}/base/busybox:stable"
    app = make_app(tmp_path / "app", base)
    assert main(["pin", str(app)]) == EXIT_OK
    target = f"{fresh_registry.host}/app:1.0"
    assert main(["release", str(app), "--image", target, "--push", target]) == EXIT_OK
    capsys.readouterr()

    moved = _moved_base(images.busybox.layout, tmp_path / "moved")
    skopeo_copy(f"oci:{moved}:moved", fresh_registry, "base/busybox:stable")
    assert main(["refresh", str(app)]) == EXIT_OK
    assert "base/busybox:stable" in capsys.readouterr().out
    target2 = f"{fresh_registry.host}/app:1.1"
    code = main(["release", str(app), "--image", target2, "--push", target2, "--previous-sbom", target])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    assert "#### Package changes since" in captured.out
    assert "greeting-data" in captured.out
    with client_for(fresh_registry.host) as client:
        new = client.resolve(parse_reference(target2)).digest
        old = client.resolve(parse_reference(target)).digest
    assert isinstance(new, Digest)
    assert new != old


def test_keyless_release_through_the_sigstore_test_double(images: BaseImages, tmp_path: Path) -> None:
    """Keyless signing in the release, against ``devtools/attest_double`` (a stand-in for public
    Sigstore, which cannot be reached here): the consumer check is sigstore's real Verifier."""
    from sigstore.oidc import IdentityToken

    from devtools.attest_double import ISSUER, LocalSigstore
    from repro.attest.sign import KeylessSigner
    from repro.attest.verify_image import IdentityTrust, verify_image
    from repro.build import BuildSpec
    from repro.release import ReleaseOptions, release

    double = LocalSigstore()
    identity = "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1"
    signer = KeylessSigner(double.signing_context(), IdentityToken(double.identity_token(identity)))
    trust = IdentityTrust(issuer=ISSUER, trusted_root=double.trusted_root(), identity=identity)
    app = make_app(tmp_path / "app", images.busybox.pinned)
    target = f"{images.host}/release-keyless/app:1.0"
    config = Config(registries={images.host: RegistryConfig(insecure=True)}, timeout=10.0)

    report = release(
        ReleaseOptions(BuildSpec(app), image=target, sign="keyless", push=target, workdir=tmp_path),
        config=config,
        signer=signer,
        trust=trust,
    )

    assert report.pinned is not None
    assert report.pinned.endswith(f"@{report.digest}")
    assert len(report.verified) == 4
    # A consumer with only the identity and the trusted root verifies what was pushed ...
    with client_for(images.host) as client:
        result = verify_image(target, trust, client=client)
        assert len(result.verified) == 4
        # ... and one expecting another workflow does not.
        other = IdentityTrust(issuer=ISSUER, trusted_root=double.trusted_root(), identity=identity + "x")
        with pytest.raises(errors.UntrustedSignerError):
            verify_image(target, other, client=client)


def test_key_signed_release_logged_in_a_rekor_log_verifies_with_the_log_required(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--tlog URL``: every bundle of a key-signed release carries the entry of the Rekor
    log (the test double's, over HTTP), and ``verify-image --require-tlog`` with a trusted
    root naming the log accepts it; the same image signed without a log does not pass."""
    from devtools.attest_double import LocalSigstore
    from devtools.attest_double.rekor_http import RekorServer
    from repro.attest.bundle import parse_bundle

    double = LocalSigstore()
    root = double.write_trusted_root(tmp_path / "trusted_root.json")
    app = make_app(tmp_path / "app", images.busybox.pinned)
    key = make_key(tmp_path / "keys")
    pub = key.with_suffix(".pub")
    with RekorServer(double) as rekor:
        code = main(
            ["release", str(app), "--image", "greet:1.0", "--key", str(key), "--tlog", rekor.url, "--json"]
        )
        assert code == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert len(double.rekor.bodies) == len(report["attestations"]) == 4

    layout = ImageLayout(tmp_path / "dist")
    for attestation in report["attestations"]:
        manifest = json.loads(layout.read_blob(Digest.parse(attestation["referrer"])))
        bundle = parse_bundle(layout.read_blob(Digest.parse(manifest["layers"][0]["digest"])))
        assert len(bundle.tlog_entries) == 1

    target = report["destination"]
    required = ["--key", str(pub), "--trusted-root", str(root), "--require-tlog"]
    assert main(["verify-image", target, *required, "--require", "provenance,sbom,reproducible"]) == EXIT_OK
    # Another deployment's root does not name this log: the entries do not verify.
    other = LocalSigstore().write_trusted_root(tmp_path / "other_root.json")
    refused = ["--key", str(pub), "--trusted-root", str(other), "--require-tlog"]
    assert main(["verify-image", target, *refused]) == errors.EXIT_TLOG_INVALID
