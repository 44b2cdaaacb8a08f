"""The Python cataloger; names, purls and layout as syft 1.18 reports them for the same files."""

from __future__ import annotations

import pytest

from repro.sbom.catalogers.python import PythonCataloger, normalize_name
from repro.sbom.model import CatalogContext, Package

from .memfs import MemoryFileView

CONTEXT = CatalogContext(None, "amd64")
SITE = "usr/local/lib/python3.11/site-packages"
DIST = "usr/lib/python3/dist-packages"


def metadata(name: str, version: str, *extra: str) -> bytes:
    return "\n".join(
        ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *extra, "", "body"]
    ).encode()


FILES: dict[str, bytes | tuple[bytes, int]] = {
    f"{SITE}/requests-2.31.0.dist-info/METADATA": metadata(
        "requests",
        "2.31.0",
        "Summary: Python HTTP for Humans.",
        "Author: Kenneth Reitz",
        "License: Apache 2.0",
        "Requires-Dist: charset-normalizer (<4,>=2)",
        "Requires-Dist: idna<4,>=2.5",
        "Requires-Dist: urllib3<3,>=1.21.1",
        'Requires-Dist: PySocks!=1.5.7,>=1.5.6; extra == "socks"',
        "Requires-Dist: not-installed>=1",
    ),
    f"{SITE}/requests-2.31.0.dist-info/RECORD": (
        b"requests/__init__.py,sha256=abc,4965\n"
        b"requests-2.31.0.dist-info/RECORD,,\n"
        b"../../../bin/requests-cli,sha256=def,200\n"
        b"../../../../../../../etc/escape,,\n"
    ),
    f"{SITE}/charset_normalizer-3.3.2.dist-info/METADATA": metadata(
        "charset-normalizer", "3.3.2", "License-Expression: mit"
    ),
    f"{SITE}/idna-3.6.dist-info/METADATA": metadata(
        "idna",
        "3.6",
        "Classifier: License :: OSI Approved :: BSD License",
        "Classifier: Programming Language :: Python",
    ),
    f"{SITE}/urllib3-2.1.0.dist-info/METADATA": metadata("urllib3", "2.1.0"),
    f"{DIST}/urllib3-1.26.12.egg-info/PKG-INFO": metadata("urllib3", "1.26.12"),
    f"{DIST}/PyYAML-6.0.egg-info/PKG-INFO": metadata("PyYAML", "6.0", "License: MIT"),
    f"{DIST}/PyYAML-6.0.egg-info/installed-files.txt": b"../yaml/__init__.py\nPKG-INFO\n",
    f"{DIST}/lazr.uri-1.0.6.egg-info": metadata("lazr.uri", "1.0.6", "License: LGPL v3"),
    f"{DIST}/requests-2.28.1.egg-info/PKG-INFO": metadata(
        "requests", "2.28.1", "License: Apache 2.0\n        with a long text", "Requires-Dist: urllib3"
    ),
}


def _catalog(files: dict[str, bytes | tuple[bytes, int]]) -> dict[str, Package]:
    return {p.purl: p for p in PythonCataloger().catalog(MemoryFileView(files), CONTEXT)}


def test_purls_match_syft() -> None:
    assert sorted(_catalog(FILES)) == [
        "pkg:pypi/charset-normalizer@3.3.2",
        "pkg:pypi/idna@3.6",
        "pkg:pypi/lazr-uri@1.0.6",
        "pkg:pypi/pyyaml@6.0",
        "pkg:pypi/requests@2.28.1",
        "pkg:pypi/requests@2.31.0",
        "pkg:pypi/urllib3@1.26.12",
        "pkg:pypi/urllib3@2.1.0",
    ]


def test_dist_info_fields_and_record() -> None:
    requests = _catalog(FILES)["pkg:pypi/requests@2.31.0"]
    assert requests.type == "pypi"
    assert requests.name == "requests"
    assert requests.evidence == (
        f"{SITE}/requests-2.31.0.dist-info/METADATA",
        f"{SITE}/requests-2.31.0.dist-info/RECORD",
    )
    assert requests.files == (
        f"{SITE}/requests/__init__.py",
        f"{SITE}/requests-2.31.0.dist-info/RECORD",
        "usr/local/bin/requests-cli",
    )
    assert requests.licenses == ("Apache 2.0",)
    assert requests.description == "Python HTTP for Humans."
    assert requests.supplier == "Kenneth Reitz"


def test_dependencies_skip_extras_and_prefer_the_same_directory() -> None:
    found = _catalog(FILES)
    assert found["pkg:pypi/requests@2.31.0"].depends_on == (
        "pkg:pypi/charset-normalizer@3.3.2",
        "pkg:pypi/idna@3.6",
        "pkg:pypi/urllib3@2.1.0",
    )
    assert found["pkg:pypi/requests@2.28.1"].depends_on == ("pkg:pypi/urllib3@1.26.12",)


def test_licenses_from_expression_field_and_classifiers() -> None:
    found = _catalog(FILES)
    assert found["pkg:pypi/charset-normalizer@3.3.2"].licenses == ("MIT",)
    assert found["pkg:pypi/idna@3.6"].licenses == ("BSD-3-Clause",)
    assert found["pkg:pypi/requests@2.28.1"].licenses == ()  # a licence text, not a name
    assert found["pkg:pypi/urllib3@2.1.0"].licenses == ()


def test_egg_info_directory_and_file() -> None:
    found = _catalog(FILES)
    pyyaml = found["pkg:pypi/pyyaml@6.0"]
    assert pyyaml.name == "pyyaml"
    assert pyyaml.files == (f"{DIST}/yaml/__init__.py", f"{DIST}/PyYAML-6.0.egg-info/PKG-INFO")
    assert found["pkg:pypi/lazr-uri@1.0.6"].evidence == (f"{DIST}/lazr.uri-1.0.6.egg-info",)


@pytest.mark.parametrize(
    ("name", "normalized"), [("PyYAML", "pyyaml"), ("zope.interface", "zope-interface"), ("a__b-.c", "a-b-c")]
)
def test_normalize_name(name: str, normalized: str) -> None:
    assert normalize_name(name) == normalized


def test_malformed_metadata_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    files = dict(FILES)
    files[f"{SITE}/broken-1.dist-info/METADATA"] = b"\xff\xfe\x00garbage"
    files[f"{SITE}/noversion-1.dist-info/METADATA"] = b"Name: noversion\n\n"
    files[f"{SITE}/huge-1.dist-info/METADATA"] = b"Name: huge\nVersion: 1\n" + b"x" * (5 * 1024 * 1024)
    files[f"{SITE}/badrecord-1.dist-info/METADATA"] = metadata("badrecord", "1")
    files[f"{SITE}/badrecord-1.dist-info/RECORD"] = b'"unterminated,\x00\xff\n'
    found = _catalog(files)
    assert len(found) == len(_catalog(FILES)) + 1  # badrecord survives; its RECORD gives what it can
    assert "huge-1.dist-info" in caplog.text
    assert "no Name or Version" in caplog.text
