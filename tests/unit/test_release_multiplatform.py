"""``repro release --platform A,B`` offline: each platform built twice, one index, every
platform image signed on its own and the index too, the consumer's check over every
platform, and the forged index (one platform's attestations left out) refused."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from repro.attest.statements import CYCLONEDX_BOM, REPRODUCIBLE_V1, SLSA_PROVENANCE_V1
from repro.build import BuildSpec
from repro.build.engine import BuildRequest, EngineOutput, ProgressCallback, RunOptions
from repro.cli import main
from repro.config import Config
from repro.errors import EXIT_OK, EXIT_UNCOVERED_PLATFORM, UsageError
from repro.images.store import LayoutStore
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import Index, Manifest
from repro.release import STAGES, ReleaseOptions, release
from tests.unit.build.fakes import FakeEngine

ENV = {"REPRO_KEY_PASSWORD": "offline test passphrase"}
PLATFORMS = "linux/amd64,linux/arm64"


@dataclass
class PlatformEngine(FakeEngine):
    """The fake engine, its image's config stating the platform the request asks for."""

    def build(
        self, request: BuildRequest, options: RunOptions, *, progress: ProgressCallback | None = None
    ) -> EngineOutput:
        made = super().build(request, options, progress=progress)
        if request.platform is None:
            return made
        layout = ImageLayout.open(made.layout)
        manifest = layout.manifest(layout.find(made.tag))
        assert isinstance(manifest, Manifest)
        config = layout.config(manifest)
        config["architecture"] = request.platform.split("/")[1]
        config_desc = layout.write_blob(json.dumps(config, sort_keys=True).encode(), media.OCI_CONFIG)
        document = json.loads(manifest.data)
        document["config"] = config_desc.to_json()
        layout.set_tag(
            made.tag, layout.write_blob(json.dumps(document, sort_keys=True).encode(), media.OCI_MANIFEST)
        )
        return made


def app(directory: Path) -> Path:
    directory.mkdir()
    (directory / "Dockerfile").write_text("FROM scratch\nCOPY out.txt /\nUSER 65534:65534\n")
    (directory / "out.txt").write_text("hi\n")
    return directory


def engine() -> PlatformEngine:
    return PlatformEngine(image_config={"User": "65534:65534"})


def test_a_multi_platform_release_signs_every_platform_and_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ReleaseOptions(
        BuildSpec(app(tmp_path / "app"), platform=PLATFORMS),
        image="registry.example/app:1.0",
        workdir=tmp_path,
    )
    fake = engine()
    report = release(options, config=Config(), engines=[fake], env=ENV)
    assert [(s.name, s.status) for s in report.stages] == [(name, "passed") for name in STAGES]
    assert sorted(r.platform or "" for r in fake.requests) == sorted(PLATFORMS.split(",") * 2)

    dist = tmp_path / "dist"
    layout = ImageLayout.open(dist)
    root = layout.find("1.0")
    index = layout.manifest(root)
    assert isinstance(index, Index)
    assert report.digest == str(root.digest)
    assert [str(d.platform) for d in index.manifests] == PLATFORMS.split(",")
    assert [p["platform"] for p in report.platforms] == PLATFORMS.split(",")
    assert [p["digest"] for p in report.platforms] == [str(d.digest) for d in index.manifests]
    store = LayoutStore(layout)
    for entry in index.manifests:
        assert len(store.referrers(entry.digest)) == 5  # four bundles and the plain SBOM
    assert len(store.referrers(root.digest)) == 2  # the index's provenance and signature
    assert len(report.referrers) == 12
    about = {(a["platform"], a["predicateType"]) for a in report.attestations}
    assert ("linux/arm64", REPRODUCIBLE_V1) in about
    assert ("index", SLSA_PROVENANCE_V1) in about
    assert ("index", CYCLONEDX_BOM) not in about
    markdown = report.to_markdown()
    assert "- index digest:" in markdown
    assert "linux/arm64: " in markdown

    # A consumer verifies every platform; and each alone.
    monkeypatch.chdir(tmp_path)
    public = str(tmp_path / ".repro" / "release.pub")
    require = "provenance,sbom,reproducible"
    assert main(["verify-image", f"oci:{dist}:1.0", "--key", public, "--require", require]) == EXIT_OK
    assert (
        main(
            [
                "verify-image",
                f"oci:{dist}:1.0",
                "--key",
                public,
                "--require",
                require,
                "--platform",
                "linux/arm64",
            ]
        )
        == EXIT_OK
    )
    capsys.readouterr()

    # The same index with the arm64 image's attestations left out is refused (26).
    forged = tmp_path / "forged"
    shutil.copytree(dist, forged)
    arm64 = index.manifests[1]
    dropped = {str(d.digest) for d in store.referrers(arm64.digest)}
    entries = json.loads((forged / "index.json").read_bytes())
    entries["manifests"] = [e for e in entries["manifests"] if e["digest"] not in dropped]
    (forged / "index.json").write_text(json.dumps(entries))
    code = main(["verify-image", f"oci:{forged}:1.0", "--key", public, "--require", require, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_UNCOVERED_PLATFORM
    assert [c["missing"] for c in result["coverage"]] == [[], [CYCLONEDX_BOM, REPRODUCIBLE_V1]]


def test_previous_sbom_with_several_platforms_is_refused_before_anything_runs(tmp_path: Path) -> None:
    fake = engine()
    options = ReleaseOptions(
        BuildSpec(app(tmp_path / "app"), platform=PLATFORMS),
        image="registry.example/app:1.0",
        workdir=tmp_path,
        previous_sbom=str(tmp_path / "old.json"),
    )
    with pytest.raises(UsageError, match="--previous-sbom with --platform"):
        release(options, config=Config(), engines=[fake], env=ENV)
    assert fake.requests == []
    assert not (tmp_path / "dist").exists()
