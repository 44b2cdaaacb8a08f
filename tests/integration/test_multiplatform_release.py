"""A multi-platform release end to end, with real buildah and the real Distribution registry:
``repro release --platform linux/amd64,linux/arm64`` builds each platform twice, combines
the images into one index, signs per platform and for the index, and publishes; ``repro
push`` carries the index with the referrers of every manifest to the registry; ``repro
verify-image`` passes for every platform (and for one, with ``--platform``); ``repro sbom``
writes one SBOM per platform. An index pushed with one platform's attestations left out
is refused with the uncovered-platform exit code."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.testbed import BaseImages
from repro.attest.keys import load_public_key, write_keypair
from repro.attest.referrers import BUNDLE_ARTIFACT_TYPE
from repro.attest.statements import (
    COSIGN_SIGN_V1,
    CYCLONEDX_BOM,
    REPRODUCIBLE_V1,
    SLSA_PROVENANCE_V1,
    Statement,
)
from repro.attest.verify_image import KeyTrust, verify_image
from repro.cli import main
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.errors import EXIT_OK, EXIT_UNCOVERED_PLATFORM
from repro.images.push import CYCLONEDX_JSON
from repro.images.store import LayoutStore
from repro.oci.layout import REF_NAME, ImageLayout
from repro.oci.models import Index
from repro.reference import parse_reference
from repro.registry import RegistryClient
from tests.programs import require_programs

pytestmark = [pytest.mark.buildah, pytest.mark.slow]

PASSWORD = "multi-platform release passphrase"
PLATFORMS = ("linux/amd64", "linux/arm64")
REQUIRE = "provenance,sbom,reproducible"

APP = """\
FROM {base}
RUN echo "built for $(uname -m)" > /built-for.txt
COPY greeting.txt /app/greeting.txt
USER 65534:65534
CMD ["cat", "/app/greeting.txt"]
"""


@dataclass(frozen=True)
class Released:
    """The release made once for the module's tests."""

    images: BaseImages
    dist: Path  # the release's OCI layout (tag 1.0)
    key: Path
    public_key: Path
    report: dict[str, Any]
    seconds: float


def client_for(host: str) -> RegistryClient:
    return RegistryClient(Config(registries={host: RegistryConfig(insecure=True)}, timeout=10.0))


@pytest.fixture(scope="module")
def released(base_images: BaseImages, tmp_path_factory: pytest.TempPathFactory) -> Released:
    require_programs("buildah")

    work = tmp_path_factory.mktemp("mp-release")
    app = work / "app"
    app.mkdir()
    (app / "greeting.txt").write_text("hello from every platform\n")
    (app / "Dockerfile").write_text(APP.format(base=base_images.multi.pinned))
    (work / "keys").mkdir()
    pair = write_keypair(work / "keys" / "signing", PASSWORD.encode())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
        patch.setenv("SOURCE_DATE_EPOCH", "1704067200")
        patch.setenv("REPRO_KEY_PASSWORD", PASSWORD)
        patch.setenv("HOME", str(work))
        patch.chdir(work)
        dist = work / "dist"
        report = work / "release.json"
        started = time.monotonic()
        code = main(
            [
                "release",
                str(app),
                "--image",
                f"{base_images.host}/mp/app:1.0",
                "--platform",
                ",".join(PLATFORMS),
                "--key",
                str(pair.private_key),
                "--push",
                f"oci:{dist}:1.0",
                "--report",
                str(report),
            ]
        )
        seconds = time.monotonic() - started
    assert code == EXIT_OK, report.read_text() if report.exists() else "no report"
    return Released(
        base_images,
        dist,
        pair.private_key,
        pair.private_key.with_suffix(".pub"),
        json.loads(report.read_text()),
        seconds,
    )


def test_the_release_is_an_index_with_each_platform_signed(released: Released) -> None:
    layout = ImageLayout.open(released.dist)
    root = layout.find("1.0")
    index = layout.manifest(root)
    assert isinstance(index, Index)
    assert [str(d.platform) for d in index.manifests] == list(PLATFORMS)
    report = released.report
    assert report["status"] == "released"
    assert report["digest"] == str(root.digest)
    platforms = report["platforms"]
    assert isinstance(platforms, list)
    assert [p["platform"] for p in platforms] == list(PLATFORMS)
    for entry, descriptor in zip(platforms, index.manifests, strict=True):
        assert entry["digest"] == str(descriptor.digest)
        assert entry["reproducible"]
        assert len(set(entry["digests"])) == 1  # built twice, one digest
        assert entry["sbomComponents"]
    # Each platform image ran its own RUN step.
    for descriptor in index.manifests:
        image = layout.image(descriptor=descriptor)
        assert image.config["architecture"] == str(descriptor.platform).split("/")[1]

    store = LayoutStore(layout)
    trust = KeyTrust(load_public_key(released.public_key))
    for descriptor in index.manifests:
        referrers = store.referrers(descriptor.digest)
        kinds = sorted(r.artifact_type or "" for r in referrers)
        assert kinds == sorted([BUNDLE_ARTIFACT_TYPE] * 4 + [CYCLONEDX_JSON])
    on_index = store.referrers(root.digest)
    assert [r.artifact_type for r in on_index] == [BUNDLE_ARTIFACT_TYPE] * 2

    result = verify_image(
        f"oci:{released.dist}:1.0", trust, require=(SLSA_PROVENANCE_V1, CYCLONEDX_BOM, REPRODUCIBLE_V1)
    )
    by_subject: dict[Digest, dict[str, Statement]] = {}
    for attestation in result.verified:
        by_subject.setdefault(attestation.subject, {})[attestation.predicate_type] = attestation.statement
    for descriptor in index.manifests:
        mine = by_subject[descriptor.digest]
        assert set(mine) == {SLSA_PROVENANCE_V1, CYCLONEDX_BOM, REPRODUCIBLE_V1, COSIGN_SIGN_V1}
        provenance = mine[SLSA_PROVENANCE_V1]
        assert [str(s.digest) for s in provenance.subjects] == [str(descriptor.digest)]
        assert provenance.predicate["buildDefinition"]["externalParameters"]["platforms"] == [
            str(descriptor.platform)
        ]
        sbom = mine[CYCLONEDX_BOM].predicate
        assert descriptor.digest.hex in sbom["metadata"]["component"]["purl"]
    about_index = by_subject[root.digest]
    assert set(about_index) == {SLSA_PROVENANCE_V1, COSIGN_SIGN_V1}
    index_provenance = about_index[SLSA_PROVENANCE_V1]
    assert [str(s.digest) for s in index_provenance.subjects] == [str(root.digest)]
    images = {
        b["annotations"]["platform"]: b["digest"]["sha256"]
        for b in index_provenance.predicate["runDetails"]["byproducts"]
        if "platform" in b.get("annotations", {})
    }
    assert images == {str(d.platform): d.digest.hex for d in index.manifests}


def test_push_verify_image_and_sbom_from_the_registry(
    released: Released, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    host = released.images.host
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", host)
    target = f"{host}/mp-pushed/app:1.0"
    assert main(["push", f"oci:{released.dist}:1.0", target, "--json"]) == EXIT_OK
    pushed = json.loads(capsys.readouterr().out)
    index = ImageLayout.open(released.dist).manifest(ImageLayout.open(released.dist).find("1.0"))
    assert isinstance(index, Index)
    assert pushed["digest"] == str(index.digest)
    assert len(pushed["referrers"]) == 2 * 5 + 2  # per platform 4 bundles + SBOM; the index's 2 bundles
    with client_for(host) as client:
        for descriptor in index.manifests:
            listed = client.referrers(host, "mp-pushed/app", descriptor.digest)
            assert len(listed) == 5

    public = str(released.public_key)
    assert main(["verify-image", target, "--key", public, "--require", REQUIRE, "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["index"] is True
    assert [c["platform"] for c in result["coverage"]] == list(PLATFORMS)
    assert all(c["missing"] == [] for c in result["coverage"])

    assert (
        main(
            [
                "verify-image",
                target,
                "--key",
                public,
                "--require",
                REQUIRE,
                "--platform",
                "linux/arm64",
                "--json",
            ]
        )
        == EXIT_OK
    )
    narrowed = json.loads(capsys.readouterr().out)
    assert [c["platform"] for c in narrowed["coverage"]] == ["linux/arm64"]

    out = tmp_path / "sbom.cdx.json"
    assert main(["sbom", target, "-o", f"cyclonedx-json={out}"]) == EXIT_OK
    for descriptor in index.manifests:
        platform = str(descriptor.platform).replace("/", "-")
        document = json.loads((tmp_path / f"sbom.{platform}.cdx.json").read_bytes())
        assert descriptor.digest.hex in document["metadata"]["component"]["purl"]


def test_an_index_with_one_platform_unsigned_is_refused(
    released: Released, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack of the security issue on a real release: the same index, pushed with the
    arm64 image's attestations left behind. The index's own provenance is still there."""
    host = released.images.host
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", host)
    forged = tmp_path / "forged"
    shutil.copytree(released.dist, forged)
    layout = ImageLayout.open(forged)
    index = layout.manifest(layout.find("1.0"))
    assert isinstance(index, Index)
    arm64 = next(d for d in index.manifests if str(d.platform) == "linux/arm64")
    dropped = {d.digest for d in LayoutStore(layout).referrers(arm64.digest)}
    assert len(dropped) == 5
    entries = json.loads((forged / "index.json").read_bytes())
    entries["manifests"] = [e for e in entries["manifests"] if Digest.parse(e["digest"]) not in dropped]
    (forged / "index.json").write_text(json.dumps(entries))
    assert all(
        REF_NAME not in e.get("annotations", {}) or e["annotations"][REF_NAME] == "1.0"
        for e in entries["manifests"]
    )

    target = f"{host}/mp-forged/app:1.0"
    assert main(["push", f"oci:{forged}:1.0", target]) == EXIT_OK
    capsys.readouterr()
    public = str(released.public_key)
    code = main(["verify-image", target, "--key", public, "--require", REQUIRE, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_UNCOVERED_PLATFORM
    assert result["ok"] is False
    [arm] = [c for c in result["coverage"] if c["platform"] == "linux/arm64"]
    assert set(arm["missing"]) == {CYCLONEDX_BOM, REPRODUCIBLE_V1}  # provenance: the index's covers it
    # The platform that is signed still verifies on its own.
    assert (
        main(["verify-image", target, "--key", public, "--require", REQUIRE, "--platform", "linux/amd64"])
        == EXIT_OK
    )
    capsys.readouterr()
    with client_for(host) as client:
        assert client.resolve(parse_reference(target)).digest == index.digest
