from __future__ import annotations

import json

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
