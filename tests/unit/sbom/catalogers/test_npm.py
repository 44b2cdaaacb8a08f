"""The npm cataloger; purls as syft 1.18's javascript-package-cataloger writes them for the same tree."""

from __future__ import annotations

import json
from typing import Any

import pytest

from repro.sbom.catalogers.npm import NpmCataloger
from repro.sbom.model import CatalogContext, Package

from .memfs import MemoryFileView

CONTEXT = CatalogContext(None, "amd64")


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()


TREE: dict[str, bytes | tuple[bytes, int]] = {
    "app/package.json": _json(
        {
            "name": "my-app",
            "version": "0.1.0",
            "license": "ISC",
            "dependencies": {"express": "^4", "@types/node": "*"},
        }
    ),
    "app/node_modules/express/package.json": _json(
        {
            "name": "express",
            "version": "4.18.2",
            "license": "MIT",
            "description": "Fast web framework",
            "author": {"name": "TJ Holowaychuk"},
            "dependencies": {"debug": "2.6.9", "ms": "^2", "missing": "1"},
        }
    ),
    "app/node_modules/express/index.js": b"module.exports = 1\n",
    "app/node_modules/express/lib/router.js": b"",
    "app/node_modules/express/node_modules/debug/package.json": _json(
        {"name": "debug", "version": "2.6.9", "license": {"type": "MIT"}, "dependencies": {"ms": "2.0.0"}}
    ),
    "app/node_modules/express/node_modules/ms/package.json": _json(
        {"name": "ms", "version": "2.0.0", "licenses": [{"type": "MIT"}, {"type": "Apache-2.0"}]}
    ),
    "app/node_modules/ms/package.json": _json(
        {"name": "ms", "version": "2.1.3", "license": "(MIT OR Apache-2.0)"}
    ),
    "app/node_modules/@types/node/package.json": _json(
        {
            "name": "@types/node",
            "version": "20.1.0+build.1",
            "license": "MIT",
            "peerDependencies": {"ms": "*"},
        }
    ),
    "app/node_modules/@types/node/index.d.ts": b"",
    "app/node_modules/noversion/package.json": _json({"name": "noversion"}),
    "app/node_modules/express/test/fixtures/package.json": _json({"version": "1.0.0"}),
}


def _catalog(files: dict[str, bytes | tuple[bytes, int]]) -> dict[str, Package]:
    return {p.purl: p for p in NpmCataloger().catalog(MemoryFileView(files), CONTEXT)}


def test_purls_match_syft() -> None:
    assert sorted(_catalog(TREE)) == [
        "pkg:npm/%40types/node@20.1.0%2Bbuild.1",
        "pkg:npm/debug@2.6.9",
        "pkg:npm/express@4.18.2",
        "pkg:npm/ms@2.0.0",
        "pkg:npm/ms@2.1.3",
        "pkg:npm/my-app@0.1.0",
        "pkg:npm/noversion",
    ]


def test_dependencies_follow_node_resolution() -> None:
    found = _catalog(TREE)
    # express's own node_modules first (ms 2.0.0), not the hoisted ms 2.1.3; "missing" is not installed.
    assert found["pkg:npm/express@4.18.2"].depends_on == ("pkg:npm/debug@2.6.9", "pkg:npm/ms@2.0.0")
    # debug is in express/node_modules: its "ms" is found one level up, in express/node_modules.
    assert found["pkg:npm/debug@2.6.9"].depends_on == ("pkg:npm/ms@2.0.0",)
    assert found["pkg:npm/%40types/node@20.1.0%2Bbuild.1"].depends_on == ("pkg:npm/ms@2.1.3",)
    assert found["pkg:npm/my-app@0.1.0"].depends_on == (
        "pkg:npm/express@4.18.2",
        "pkg:npm/%40types/node@20.1.0%2Bbuild.1",
    )


def test_fields_licenses_and_owned_files() -> None:
    found = _catalog(TREE)
    express = found["pkg:npm/express@4.18.2"]
    assert express.evidence == ("app/node_modules/express/package.json",)
    assert express.licenses == ("MIT",)
    assert express.description == "Fast web framework"
    assert express.supplier == "TJ Holowaychuk"
    assert "app/node_modules/express/lib/router.js" in express.files
    assert not any("/express/node_modules/" in f for f in express.files)
    assert found["pkg:npm/ms@2.0.0"].licenses == ("MIT", "Apache-2.0")
    assert found["pkg:npm/ms@2.1.3"].licenses == ("MIT OR Apache-2.0",)
    assert found["pkg:npm/debug@2.6.9"].licenses == ("MIT",)
    assert found["pkg:npm/%40types/node@20.1.0%2Bbuild.1"].files == (
        "app/node_modules/@types/node/index.d.ts",
        "app/node_modules/@types/node/package.json",
    )
    assert found["pkg:npm/my-app@0.1.0"].files == ()


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"name": "x", "version": 3}', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000],
)
def test_malformed_manifests_are_skipped(content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    files = dict(TREE)
    files["app/node_modules/bad/package.json"] = content
    assert len(_catalog(files)) == len(_catalog(TREE))
    assert "skipping npm package app/node_modules/bad/package.json" in caplog.text
