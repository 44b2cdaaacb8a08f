"""The SPDX 2.3 writer: valid for spdx-tools (read back from the file, as a consumer would),
deterministic, and saying what the CycloneDX document says; the ``-o FORMAT[=FILE]`` option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from repro.cli import main
from repro.errors import Error, UsageError
from repro.sbom import spdx
from repro.sbom.cyclonedx import ImageInfo, Inventory, InventoryComponent
from repro.sbom.formats import SbomOutput, parse_output, parse_outputs
from repro.sbom.generate import generate_documents
from repro.sbom.model import Package
from tests.unit.sbom.debfixtures import debian_image


def spdx_tools_errors(path: Path) -> list[str]:
    """spdx-tools' own reading of a file (its JSON parser, not repro's dict)."""
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    return [m.validation_message for m in validate_full_spdx_document(parse_file(str(path)), "SPDX-2.3")]


@pytest.fixture
def documents(tmp_path: Path) -> dict[str, bytes]:
    layout, image = debian_image(tmp_path / "img")
    return generate_documents(layout, image, formats=("cyclonedx-json", "spdx-json", "table"), name="deb")


def test_spdx_document_is_valid_for_spdx_tools(documents: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(documents["spdx-json"])
    assert spdx_tools_errors(path) == []
    document = json.loads(documents["spdx-json"])
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["creationInfo"]["created"] == "2024-01-01T00:00:00Z"


def test_spdx_is_deterministic_and_linked_to_the_cyclonedx_serial(tmp_path: Path) -> None:
    layout, image = debian_image(tmp_path / "a")
    first = generate_documents(layout, image, formats=("spdx-json", "cyclonedx-json"), name="deb")
    second = generate_documents(layout, image, formats=("spdx-json",), name="deb")
    assert first["spdx-json"] == second["spdx-json"]
    serial = json.loads(first["cyclonedx-json"])["serialNumber"]
    assert json.loads(first["spdx-json"])["documentNamespace"] == serial


def purl_of(package: dict[str, Any]) -> str | None:
    refs = [r["referenceLocator"] for r in package.get("externalRefs", []) if r["referenceType"] == "purl"]
    return refs[0] if refs else None


def test_spdx_says_what_cyclonedx_says(documents: dict[str, bytes]) -> None:
    cdx = json.loads(documents["cyclonedx-json"])
    doc = json.loads(documents["spdx-json"])
    by_id = {p["SPDXID"]: p for p in doc["packages"]}
    by_id.update({f["SPDXID"]: f for f in doc.get("files", [])})

    # the same packages, by purl, with the same versions and layer properties
    cdx_libs = {c["purl"]: c for c in cdx["components"] if c["type"] == "library"}
    spdx_libs = {purl_of(p): p for p in doc["packages"] if p["primaryPackagePurpose"] == "LIBRARY"}
    assert set(spdx_libs) == set(cdx_libs)
    for purl, component in cdx_libs.items():
        assert spdx_libs[purl]["versionInfo"] == component["version"]
        for prop in component["properties"]:
            assert f"{prop['name']}: {prop['value']}" in spdx_libs[purl]["comment"]
    # the same unowned files, with the same sha256 (and the SHA-1 SPDX requires)
    cdx_files = {c["name"]: c["hashes"][0]["content"] for c in cdx["components"] if c["type"] == "file"}
    spdx_files = {
        f["fileName"].removeprefix("."): {c["algorithm"]: c["checksumValue"] for c in f["checksums"]}
        for f in doc["files"]
    }
    assert {name: sums["SHA256"] for name, sums in spdx_files.items()} == cdx_files
    assert all(len(sums["SHA1"]) == 40 for sums in spdx_files.values())

    # the same graph: every CycloneDX dependency edge is one SPDX relationship
    def spdx_name(spdx_id: str) -> str:
        element = by_id[spdx_id]
        if "fileName" in element:
            return "file:/" + str(element["fileName"]).removeprefix("./")
        if element["primaryPackagePurpose"] == "OPERATING-SYSTEM":
            return f"os:{element['name']}@{element['versionInfo']}"
        return str(purl_of(element))

    cdx_edges = {(d["ref"], target) for d in cdx["dependencies"] for target in d["dependsOn"]}
    spdx_edges = {
        (spdx_name(r["spdxElementId"]), spdx_name(r["relatedSpdxElement"]))
        for r in doc["relationships"]
        if r["relationshipType"] in ("CONTAINS", "DEPENDS_ON", "OTHER")
    }
    assert spdx_edges == cdx_edges
    describes = [r for r in doc["relationships"] if r["relationshipType"] == "DESCRIBES"]
    assert [by_id[r["relatedSpdxElement"]]["primaryPackagePurpose"] for r in describes] == ["CONTAINER"]


def test_table_is_for_people(documents: dict[str, bytes]) -> None:
    lines = documents["table"].decode().splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "TYPE", "LAYER", "FROM"]
    libc = next(line for line in lines if line.startswith("libc6 "))
    assert libc.split()[:4] == ["libc6", "2.36-9+deb12u8", "deb", "0"]
    assert any(line.startswith("/usr/local/bin/mystery") for line in lines)


def hostile_inventory() -> Inventory:
    package = Package(
        type="deb",
        name="evil\npkg",
        version="1:2.0~rc(1)",
        purl="pkg:deb/debian/evil@1",
        evidence=("var/lib/dpkg/status",),
        licenses=(
            "GPL-2+ with (odd) exception",
            "MIT",
            "MIT OR Apache-2.0",
            "GPL-2+ with odd exception",
            "MIT/X11",
        ),
        depends_on=("pkg:deb/debian/evil@1", "pkg:deb/debian/missing@2"),
        supplier="Mr (Evil) Maint <evil(at)example.com>",
        hashes={"sha256": "AB" * 32, "crc32": "0"},
    )
    image = ImageInfo(
        name="odd name/with:chars", digest="sha256:" + "0" * 64, config_digest="sha256:" + "1" * 64,
        architecture="amd64", os="linux", created=None,
    )  # fmt: skip
    return Inventory(image=image, distro=None, components=(InventoryComponent(package, (), None),))


def test_hostile_metadata_still_gives_a_valid_document(tmp_path: Path) -> None:
    text = spdx.render(hostile_inventory())
    path = tmp_path / "odd.spdx.json"
    path.write_bytes(text)
    assert spdx_tools_errors(path) == []
    doc = json.loads(text)
    package = next(p for p in doc["packages"] if p["name"] == "evil\npkg")
    assert package["supplier"] == "Organization: Mr Evil Maint (evilatexample.com)"  # no ( or ) left
    refs = {info["licenseId"]: info["extractedText"] for info in doc["hasExtractedLicensingInfos"]}
    # MIT/X11 once broke license-expression itself (AttributeError inside its validator)
    assert sorted(refs.values()) == ["GPL-2+ with (odd) exception", "GPL-2+ with odd exception", "MIT/X11"]
    assert len(refs) == 3  # two names that sanitise alike keep two identifiers
    assert doc["creationInfo"]["created"] == "1970-01-01T00:00:00Z"  # never "now"


def test_an_invalid_spdx_document_is_an_internal_error() -> None:
    with pytest.raises(Error, match=r"not valid SPDX-2\.3"):
        spdx.validate(json.dumps({"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"}))


def test_output_option_parsing(tmp_path: Path) -> None:
    assert parse_output("table") == SbomOutput("table", None)
    assert parse_output("spdx-json=-") == SbomOutput("spdx-json", None)
    assert parse_output("spdx-json=a=b.json") == SbomOutput("spdx-json", Path("a=b.json"))
    assert parse_outputs([]) == [SbomOutput("cyclonedx-json", None)]
    with pytest.raises(UsageError, match="not an SBOM format") as caught:
        parse_output("sbom.json")
    assert caught.value.hint == "to write a file, give the format and the file: -o cyclonedx-json=sbom.json"
    with pytest.raises(UsageError, match="unknown SBOM format 'spdx'"):
        parse_output("spdx=x.json")
    with pytest.raises(UsageError, match="no file after"):
        parse_output("table=")
    with pytest.raises(UsageError, match="2 formats would go to stdout"):
        parse_outputs(["table", "spdx-json"])
    with pytest.raises(UsageError, match="named twice"):
        parse_outputs([f"table={tmp_path}/x", f"spdx-json={tmp_path}/./x"])


def test_cli_writes_each_format_where_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    debian_image(tmp_path / "img")
    image = f"oci:{tmp_path / 'img'}:t"
    # the old mistake: "-o spdx-json" wrote CycloneDX to a file named spdx-json
    assert main(["sbom", image, "-o", "spdx-json"]) == 0
    assert json.loads(capsys.readouterr().out)["spdxVersion"] == "SPDX-2.3"
    assert not (Path.cwd() / "spdx-json").exists()
    cdx, doc = tmp_path / "out.cdx.json", tmp_path / "out.spdx.json"
    assert main(["sbom", image, "-o", f"cyclonedx-json={cdx}", "-o", f"spdx-json={doc}", "-o", "table"]) == 0
    assert json.loads(cdx.read_bytes())["bomFormat"] == "CycloneDX"
    assert json.loads(doc.read_bytes())["spdxVersion"] == "SPDX-2.3"
    assert capsys.readouterr().out.startswith("NAME ")
    assert main(["sbom", image, "-o", str(tmp_path / "plain.json")]) == 64
    assert "cyclonedx-json=" in capsys.readouterr().err
    assert not (tmp_path / "plain.json").exists()
