"""The whole ``repro release`` sequence, offline and fast: a fake engine, an OCI layout.

Every stage runs for real except the engine (:class:`tests.unit.build.fakes.FakeEngine`
writes a real one-layer image): pin check, two builds compared, SBOM, the Rego gate,
signing with a local key, the push into ``dist``, the consumer's check from there, and
the tag, written last. The integration tests run the same sequence with buildah and a
registry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from repro.attest.sign import KeySigner
from repro.attest.verify_image import KeyTrust
from repro.build import BuildSpec
from repro.cli import main
from repro.config import Config
from repro.errors import EXIT_OK, EXIT_RELEASE_PUSH, EXIT_RELEASE_VERIFY, ReleaseError
from repro.images.store import LayoutStore
from repro.oci.layout import REF_NAME, ImageLayout
from repro.release import STAGES, ReleaseOptions, ReleaseReport, release
from repro.release.progress import StageEvent
from tests.unit.build.fakes import FakeEngine

ENV = {"REPRO_KEY_PASSWORD": "offline test passphrase"}


def app(directory: Path) -> Path:
    directory.mkdir()
    (directory / "Dockerfile").write_text("FROM scratch\nCOPY out.txt /\nUSER 65534:65534\n")
    (directory / "out.txt").write_text("hi\n")
    return directory


def engine() -> FakeEngine:
    return FakeEngine(image_config={"User": "65534:65534"})


def test_the_whole_release_into_a_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = ReleaseOptions(
        BuildSpec(app(tmp_path / "app")), image="registry.example/app:1.0", workdir=tmp_path
    )
    report = release(options, config=Config(), engines=[engine()], env=ENV)

    assert [(s.name, s.status) for s in report.stages] == [(name, "passed") for name in STAGES]
    dist = tmp_path / "dist"
    assert report.pinned == f"oci:{dist}:1.0@{report.digest}"
    assert report.reproducible
    assert (
        len(report.referrers) == 5
    )  # provenance, SBOM, reproducibility and cosign signature bundles, and the SBOM
    assert {v["predicateType"] for v in report.verified} >= {"https://slsa.dev/provenance/v1"}

    layout = ImageLayout.open(dist)
    assert str(layout.find("1.0").digest) == report.digest
    listed = {str(d.digest) for d in LayoutStore(layout).referrers(layout.find("1.0").digest)}
    assert listed == set(report.referrers)
    untagged = {str(e.digest) for e in layout.index().manifests if REF_NAME not in e.annotations}
    assert untagged == set(report.referrers)

    # A consumer verifies what was released, with the local key's public half.
    monkeypatch.chdir(tmp_path)
    public = tmp_path / ".repro" / "release.pub"
    assert main(["verify-image", f"oci:{dist}:1.0", "--key", str(public), "--json"]) == EXIT_OK

    # Released again, unchanged: the same digest, nothing new in the layout.
    again = release(options, config=Config(), engines=[engine()], env=ENV)
    assert again.digest == report.digest


def test_a_release_whose_attestations_do_not_verify_writes_no_tag(tmp_path: Path) -> None:
    """The consumer's check trusts a key other than the one that signed: it must refuse,
    and the tag (the last write) must never appear."""
    signer = KeySigner(ec.generate_private_key(ec.SECP256R1()))
    stranger = KeyTrust(ec.generate_private_key(ec.SECP256R1()).public_key())
    options = ReleaseOptions(
        BuildSpec(app(tmp_path / "app")), image="registry.example/app:1.0", push=f"oci:{tmp_path / 'out'}:rc1"
    )
    with pytest.raises(ReleaseError) as caught:
        release(options, config=Config(), engines=[engine()], signer=signer, trust=stranger, env=ENV)
    assert caught.value.exit_code == EXIT_RELEASE_VERIFY
    report = caught.value.report
    assert isinstance(report, ReleaseReport)
    assert [s.name for s in report.stages][-2:] == ["push", "verify-image"]
    assert report.pinned is None
    layout = ImageLayout.open(tmp_path / "out")
    assert layout.tags() == []  # the image and its referrers are there, untagged
    assert json.loads((tmp_path / "out" / "index.json").read_bytes())["manifests"]


def test_two_releases_racing_for_one_tag_do_not_both_say_released(tmp_path: Path) -> None:
    """Release B begins while the tag is absent; release A, with other content, is
    released to the same tag while B pushes. B must not overwrite A's tag, and says so."""
    dist = tmp_path / "dist"
    options_a = ReleaseOptions(
        BuildSpec(app(tmp_path / "a")), image="registry.example/app:1.0", workdir=tmp_path
    )
    options_b = ReleaseOptions(
        BuildSpec(app(tmp_path / "b")), image="registry.example/app:1.0", workdir=tmp_path
    )
    reports: list[ReleaseReport] = []

    def meanwhile(event: StageEvent) -> None:
        if event.stage == "push" and event.kind == "start" and not reports:
            reports.append(release(options_a, config=Config(), engines=[engine()], env=ENV))

    with pytest.raises(ReleaseError) as caught:
        release(
            options_b,
            config=Config(),
            engines=[FakeEngine(content=b"other\n", image_config={"User": "65534:65534"})],
            progress=meanwhile,
            env=ENV,
        )
    (winner,) = reports
    assert winner.status == "released"
    assert caught.value.exit_code == EXIT_RELEASE_PUSH
    assert "won the race" in str(caught.value)
    loser = caught.value.report
    assert isinstance(loser, ReleaseReport)
    assert loser.status == "failed"
    assert loser.digest != winner.digest
    assert loser.pinned is None
    assert str(ImageLayout.open(dist).find("1.0").digest) == winner.digest  # A's tag stands


def test_a_tag_nobody_moved_during_the_release_is_overwritten(tmp_path: Path) -> None:
    options = ReleaseOptions(
        BuildSpec(app(tmp_path / "app")), image="registry.example/app:1.0", workdir=tmp_path
    )
    first = release(options, config=Config(), engines=[engine()], env=ENV)
    second = release(
        options,
        config=Config(),
        engines=[FakeEngine(content=b"new\n", image_config={"User": "65534:65534"})],
        env=ENV,
    )
    assert second.status == "released"
    assert second.digest != first.digest
    assert str(ImageLayout.open(tmp_path / "dist").find("1.0").digest) == second.digest
