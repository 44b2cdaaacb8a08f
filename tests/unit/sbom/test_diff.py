from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.errors import UsageError
from repro.sbom.diff import PackageRef, compare_versions, diff_sboms, packages_of


def bom(*purls: str) -> dict[str, object]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [{"type": "library", "name": "x", "purl": p} for p in purls]
        + [{"type": "operating-system", "name": "debian", "version": "12"}],
    }


@pytest.mark.parametrize(
    ("kind", "old", "new", "expected"),
    [
        ("deb", "2.36-9+deb12u7", "2.36-9+deb12u8", -1),
        ("deb", "1:1.0", "2.0", 1),  # the epoch wins
        ("deb", "1.0~rc1", "1.0", -1),
        ("pypi", "2.0.0rc1", "2.0.0", -1),
        ("npm", "1.10.0", "1.9.3", 1),
        ("golang", "v1.2.3", "v1.2.3", 0),
    ],
)
def test_compare_versions(kind: str, old: str, new: str, expected: int) -> None:
    assert compare_versions(kind, old, new) == expected


def test_added_removed_upgraded_downgraded() -> None:
    old = bom(
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12",
        "pkg:deb/debian/less@590-2?arch=amd64&distro=debian-12",
        "pkg:pypi/requests@2.31.0",
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=i386&distro=debian-12",
    )
    new = bom(
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u8?arch=amd64&distro=debian-12",
        "pkg:pypi/requests@2.28.1",
        "pkg:npm/left-pad@1.3.0",
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=i386&distro=debian-12",
    )
    diff = diff_sboms(old, json.dumps(new))
    assert [(p.type, p.name) for p in diff.added] == [("npm", "left-pad")]
    assert [p.name for p in diff.removed] == ["less"]
    assert [(c.name, c.old_version, c.new_version) for c in diff.upgraded] == [
        ("libc6", "2.36-9+deb12u7", "2.36-9+deb12u8")
    ]
    assert [(c.name, c.new_version) for c in diff.downgraded] == [("requests", "2.28.1")]
    assert diff.unchanged == 1
    assert diff.changed
    markdown = diff.to_markdown()
    assert "**1 added, 1 removed, 1 upgraded, 1 downgraded** (1 unchanged)" in markdown
    assert "| libc6 | deb | 2.36-9+deb12u7 | 2.36-9+deb12u8 | upgraded |" in markdown
    assert json.loads(json.dumps(diff.to_json()))["added"][0]["purl"] == "pkg:npm/left-pad@1.3.0"


def test_package_lists_work_too() -> None:
    ref = PackageRef("deb", "a", "1", "pkg:deb/debian/a@1")
    assert not diff_sboms([ref], [ref]).changed


def test_not_an_sbom() -> None:
    with pytest.raises(UsageError):
        packages_of(b"{}")
    with pytest.raises(UsageError):
        packages_of(b"not json")


def test_spdx_and_cyclonedx_of_one_image_list_the_same_packages(tmp_path: Path) -> None:
    from repro.sbom.generate import generate_documents
    from tests.unit.sbom.debfixtures import debian_image

    layout, image = debian_image(tmp_path / "img")
    documents = generate_documents(layout, image, formats=("cyclonedx-json", "spdx-json"), name="deb")
    from_cyclonedx = packages_of(documents["cyclonedx-json"])
    from_spdx = packages_of(documents["spdx-json"])
    assert from_cyclonedx
    assert from_spdx == from_cyclonedx
    # The image SPDX describes is not a package of it, as in CycloneDX (metadata.component).
    assert not any(p.type == "oci" for p in from_spdx)
    mixed = diff_sboms(documents["cyclonedx-json"], documents["spdx-json"])
    assert not mixed.changed
    assert mixed.unchanged == len(from_cyclonedx)


def _spdx(packages: list[tuple[str, str, str]]) -> bytes:
    """A minimal SPDX 2.3 document describing an image that holds ``packages`` (name, version, purl)."""
    image_ref = {
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": "pkg:oci/app",
    }
    return json.dumps(
        {
            "spdxVersion": "SPDX-2.3",
            "SPDXID": "SPDXRef-DOCUMENT",
            "documentDescribes": ["SPDXRef-Image"],
            "packages": [
                {"SPDXID": "SPDXRef-Image", "name": "app", "externalRefs": [image_ref]},
                *(
                    {
                        "SPDXID": f"SPDXRef-{name}",
                        "name": name,
                        "versionInfo": version,
                        "externalRefs": [
                            {
                                "referenceCategory": "PACKAGE-MANAGER",
                                "referenceType": "purl",
                                "referenceLocator": purl,
                            }
                        ],
                    }
                    for name, version, purl in packages
                ),
            ],
            "relationships": [
                {
                    "spdxElementId": "SPDXRef-DOCUMENT",
                    "relationshipType": "DESCRIBES",
                    "relatedSpdxElement": "SPDXRef-Image",
                }
            ],
        }
    ).encode()


def _cyclonedx(packages: list[tuple[str, str, str]]) -> bytes:
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "components": [{"type": "library", "name": n, "version": v, "purl": p} for n, v, p in packages],
        }
    ).encode()


OLD_PACKAGES = [
    ("libc6", "2.36-9+deb12u7", "pkg:deb/debian/libc6@2.36-9+deb12u7?arch=amd64"),
    ("curl", "7.88.1-10", "pkg:deb/debian/curl@7.88.1-10?arch=amd64"),
]
NEW_PACKAGES = [
    ("libc6", "2.36-9+deb12u8", "pkg:deb/debian/libc6@2.36-9+deb12u8?arch=amd64"),
    ("left-pad", "1.3.0", "pkg:npm/left-pad@1.3.0"),
]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (_spdx(OLD_PACKAGES), _spdx(NEW_PACKAGES)),
        (_cyclonedx(OLD_PACKAGES), _spdx(NEW_PACKAGES)),
        (_spdx(OLD_PACKAGES), _cyclonedx(NEW_PACKAGES)),
    ],
    ids=["spdx-spdx", "cyclonedx-spdx", "spdx-cyclonedx"],
)
def test_spdx_sboms_diff_alone_and_against_cyclonedx(old: bytes, new: bytes) -> None:
    diff = diff_sboms(old, new)
    assert [(c.name, c.old_version, c.new_version) for c in diff.upgraded] == [
        ("libc6", "2.36-9+deb12u7", "2.36-9+deb12u8")
    ]
    assert [p.name for p in diff.added] == ["left-pad"]
    assert [p.name for p in diff.removed] == ["curl"]


def test_sbom_diff_cli_reads_spdx_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from repro.cli import main

    (tmp_path / "old.spdx.json").write_bytes(_spdx(OLD_PACKAGES))
    (tmp_path / "new.cdx.json").write_bytes(_cyclonedx(NEW_PACKAGES))
    assert (
        main(["sbom", "diff", str(tmp_path / "old.spdx.json"), str(tmp_path / "new.cdx.json"), "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in result["upgraded"]] == ["libc6"]


def test_an_spdx_version_it_does_not_read_is_refused() -> None:
    with pytest.raises(UsageError, match=r"SPDX 2\.x"):
        packages_of(json.dumps({"spdxVersion": "SPDX-3.0", "packages": []}))
