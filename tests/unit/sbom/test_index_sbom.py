"""``repro sbom`` of an image index: one SBOM per platform image, files named per platform,
``--platform`` narrowing, and what cannot be honoured refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from repro.cli import main
from repro.errors import EXIT_REGISTRY, EXIT_USAGE, PlatformNotFoundError
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import Descriptor
from repro.platform import Platform
from repro.sbom.generate import documents_for_reference, sboms_for_reference
from tests.unit.layers.layerkit import File, make_image

OS_RELEASE = b'ID=debian\nVERSION_ID="12"\n'


def two_platform_layout(directory: Path) -> tuple[Path, dict[str, Descriptor]]:
    """An OCI layout tagged ``app`` whose tag is an index of an amd64 and an arm64 image."""
    children: dict[str, Descriptor] = {}
    for arch in ("amd64", "arm64"):
        layout, image = make_image(
            directory.parent / f"single-{arch}",
            [[File("etc/os-release", OS_RELEASE), File(f"opt/{arch}.txt", arch.encode())]],
            architecture=arch,
        )
        target = ImageLayout.create(directory)
        for blob in (layout.path / "blobs" / "sha256").iterdir():
            shutil.copyfile(blob, target.path / "blobs" / "sha256" / blob.name)
        manifest = image.manifest
        children[arch] = Descriptor(
            manifest.media_type, manifest.digest, manifest.size, platform=Platform("linux", arch)
        )
    index = {
        "schemaVersion": 2,
        "mediaType": media.OCI_INDEX,
        "manifests": [d.to_json() for d in children.values()],
    }
    layout = ImageLayout.open(directory)
    layout.set_tag("app", layout.write_blob(json.dumps(index).encode(), media.OCI_INDEX))
    return directory, children


def component(document: bytes) -> dict[str, Any]:
    return dict(json.loads(document)["metadata"]["component"])


def test_one_sbom_per_platform_each_about_its_manifest(tmp_path: Path) -> None:
    directory, children = two_platform_layout(tmp_path / "multi")
    sboms = sboms_for_reference(f"oci:{directory}:app")
    assert [str(s.platform) for s in sboms] == ["linux/amd64", "linux/arm64"]
    for sbom, arch in zip(sboms, ("amd64", "arm64"), strict=True):
        assert sbom.digest == children[arch].digest
        assert (
            str(children[arch].digest).replace(":", "%3A")
            in component(sbom.documents["cyclonedx-json"])["purl"]
        )
    # --platform narrows, in the order asked for
    (only,) = sboms_for_reference(f"oci:{directory}:app", platforms=(Platform("linux", "arm64"),))
    assert only.digest == children["arm64"].digest


def test_cli_writes_a_file_per_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory, children = two_platform_layout(tmp_path / "multi")
    out = tmp_path / "out" / "sbom.cdx.json"
    out.parent.mkdir()
    spdx = tmp_path / "out" / "sbom.spdx.json"
    assert (
        main(["sbom", f"oci:{directory}:app", "-o", f"cyclonedx-json={out}", "-o", f"spdx-json={spdx}"]) == 0
    )
    written = sorted(p.name for p in out.parent.iterdir())
    assert written == [
        "sbom.linux-amd64.cdx.json",
        "sbom.linux-amd64.spdx.json",
        "sbom.linux-arm64.cdx.json",
        "sbom.linux-arm64.spdx.json",
    ]
    arm = component((out.parent / "sbom.linux-arm64.cdx.json").read_bytes())
    assert str(children["arm64"].digest).replace(":", "%3A") in arm["purl"]
    assert "of linux/arm64" in capsys.readouterr().err
    # One platform chosen: one document, so stdout works.
    capsys.readouterr()
    assert main(["sbom", f"oci:{directory}:app", "--platform", "linux/arm64"]) == 0
    assert component(capsys.readouterr().out.encode()) == arm


def test_several_documents_to_stdout_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory, _ = two_platform_layout(tmp_path / "multi")
    assert main(["sbom", f"oci:{directory}:app"]) == EXIT_USAGE
    err = capsys.readouterr()
    assert err.out == ""
    assert "index of 2 images (linux/amd64, linux/arm64)" in err.err
    assert "--platform" in err.err


def test_a_platform_the_index_lacks_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory, _ = two_platform_layout(tmp_path / "multi")
    assert main(["sbom", f"oci:{directory}:app", "--platform", "linux/s390x", "-o", "table"]) == EXIT_REGISTRY
    assert "no image for platform linux/s390x (has: linux/amd64, linux/arm64)" in capsys.readouterr().err


def test_a_single_image_of_another_platform_is_refused(tmp_path: Path) -> None:
    layout, _ = make_image(tmp_path / "one", [[File("etc/os-release", OS_RELEASE)]], architecture="amd64")
    with pytest.raises(PlatformNotFoundError, match="its image is linux/amd64, not linux/arm64"):
        sboms_for_reference(f"oci:{layout.path}:t", platforms=(Platform("linux", "arm64"),))
    (sbom,) = sboms_for_reference(f"oci:{layout.path}:t", platforms=(Platform("linux", "amd64"),))
    assert sbom.platform is None


def test_one_document_of_an_index_is_the_platform_asked_for(tmp_path: Path) -> None:
    directory, children = two_platform_layout(tmp_path / "multi")
    document = documents_for_reference(f"oci:{directory}:app", platform=Platform("linux", "arm64"))
    assert str(children["arm64"].digest).replace(":", "%3A") in component(document["cyclonedx-json"])["purl"]
