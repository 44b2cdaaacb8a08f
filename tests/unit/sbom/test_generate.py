from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from repro.cli import main
from repro.errors import Error
from repro.sbom import cyclonedx
from repro.sbom.generate import generate_sbom, inventory_image
from tests.unit.sbom.debfixtures import debian_image


def props(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


@pytest.fixture
def document(tmp_path: Path) -> dict[str, Any]:
    layout, image = debian_image(tmp_path / "img")
    return dict(json.loads(generate_sbom(layout, image, name="deb")))


def test_document_shape(document: dict[str, Any], tmp_path: Path) -> None:
    _, image = debian_image(tmp_path / "img")
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["timestamp"] == "2024-01-01T00:00:00Z"
    component = document["metadata"]["component"]
    assert component["type"] == "container"
    assert component["purl"] == f"pkg:oci/deb@{str(image.digest).replace(':', '%3A')}"
    refs = [c["bom-ref"] for c in document["components"]]
    assert refs[0] == "os:debian@12"
    assert len(refs) == len(set(refs))


def test_same_image_same_bytes(tmp_path: Path) -> None:
    layout, image = debian_image(tmp_path / "a")
    first = generate_sbom(layout, image, name="deb")
    _, image2 = debian_image(tmp_path / "b", compress=False)
    assert image2.digest != image.digest
    assert generate_sbom(layout, image, name="deb") == first


def test_layer_attribution(document: dict[str, Any], tmp_path: Path) -> None:
    _, image = debian_image(tmp_path / "img")
    by_name = {c["name"]: c for c in document["components"]}
    libc = props(by_name["libc6"])
    assert libc["repro:layer:index"] == "0"
    assert libc["repro:layer:digest"] == str(image.layers[0].digest)
    assert libc["repro:layer:diffID"] == str(image.layers[0].diff_id)
    assert libc["repro:layer:createdBy"] == "mmdebstrap bookworm"
    assert props(by_name["base-files"])["repro:layer:index"] == "1"
    assert "less" not in by_name


def test_unowned_binaries_are_listed_with_their_hash(document: dict[str, Any]) -> None:
    import hashlib

    from tests.unit.sbom.debfixtures import ELF

    files = [c for c in document["components"] if c["type"] == "file"]
    # bash (owned via bin/ → usr/bin/) and libc.so.6 are owned; the script is not ELF
    assert [f["name"] for f in files] == ["/usr/local/bin/mystery"]
    assert files[0]["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(ELF + b"mystery").hexdigest()}]
    assert props(files[0])["repro:layer:index"] == "2"
    assert {p["name"]: p["value"] for p in document["metadata"]["properties"]}[
        "repro:unownedFiles:count"
    ] == "1"


def test_unowned_above_the_cap_is_only_counted(tmp_path: Path) -> None:
    layout, image = debian_image(tmp_path / "img")
    inventory = inventory_image(layout, image, name="deb", max_unowned=0)
    assert inventory.unowned == ()
    assert inventory.unowned_total == 1


def test_dependencies_image_os_packages(document: dict[str, Any]) -> None:
    deps = {d["ref"]: d["dependsOn"] for d in document["dependencies"]}
    image_ref = document["metadata"]["component"]["bom-ref"]
    assert "os:debian@12" in deps[image_ref]
    assert "file:/usr/local/bin/mystery" in deps[image_ref]
    assert len(deps["os:debian@12"]) == 5


def test_licenses_render_as_ids_names_or_one_expression() -> None:
    assert cyclonedx._licenses(["MIT", "public-domain"]) == [
        {"license": {"id": "MIT"}},
        {"license": {"name": "public-domain"}},
    ]
    assert cyclonedx._licenses(["MIT OR Apache-2.0", "odd name"]) == [
        {"expression": "(MIT OR Apache-2.0) AND LicenseRef-odd-name"}
    ]


def test_an_invalid_document_is_an_internal_error() -> None:
    with pytest.raises(Error, match="not valid CycloneDX"):
        cyclonedx.validate(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": "no"}))


def test_cli_writes_the_sbom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    debian_image(tmp_path / "img")
    out = tmp_path / "sbom.json"
    assert main(["sbom", f"oci:{tmp_path / 'img'}:t", "-o", f"cyclonedx-json={out}"]) == 0
    assert json.loads(out.read_bytes())["metadata"]["component"]["name"] == "img"
    assert main(["sbom", "diff", str(out), str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unchanged"] == 5
    assert main(["sbom", "diff", str(out)]) == 64
