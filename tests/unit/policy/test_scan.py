from __future__ import annotations

import fnmatch
import io
from collections.abc import Iterable
from typing import BinaryIO

import pytest

from repro.errors import ImageError
from repro.layers.fileview import FileEntry, FileView
from repro.policy.scan import credential_kind, scan_files


class MemoryFiles:
    """A FileView over a dict, for tests."""

    def __init__(self, files: dict[str, tuple[bytes, int]]) -> None:
        self.files = files
        self.reads: list[str] = []

    def entries(self) -> Iterable[FileEntry]:
        for path in sorted(self.files):
            data, mode = self.files[path]
            kind = "dir" if path.endswith("/") else "file"
            yield FileEntry(path.rstrip("/"), kind, len(data), mode, 0, 0, 1)

    def entry(self, path: str) -> FileEntry | None:
        return next((e for e in self.entries() if e.path == path), None)

    def glob(self, pattern: str) -> list[FileEntry]:
        return [e for e in self.entries() if fnmatch.fnmatchcase(e.path, pattern)]

    def read(self, path: str, *, max_size: int = 64 * 1024 * 1024) -> bytes:
        self.reads.append(path)
        if path not in self.files:
            raise ImageError(path)
        return self.files[path][0]

    def open(self, path: str) -> BinaryIO:
        return io.BytesIO(self.read(path))

    def first_layer(self, path: str) -> int | None:
        return 1


KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n"


def test_finds_secrets_and_risky_modes_without_copying_them() -> None:
    fs = MemoryFiles(
        {
            "root/.ssh/id_rsa": (KEY, 0o600),
            "app/.env": (b"DB_PASSWORD=hunter2\n", 0o644),
            "app/.env.example": (b"DB_PASSWORD=changeme\n", 0o644),
            "home/u/.npmrc": (b"//registry.npmjs.org/:_authToken=npm_abc\n", 0o644),
            "app/config.py": (b"KEY = 'AKIAIOSFODNN7EXAMPLE'\n", 0o644),
            "usr/bin/su": (b"\x7fELF", 0o4755),
            "usr/share/doc/x.txt": (b"AKIAIOSFODNN7EXAMPLE", 0o644),
            "srv/data/": (b"", 0o777),
            "tmp/": (b"", 0o1777),
            "app/run.sh": (b"#!/bin/sh\n", 0o777),
        }
    )
    result = scan_files(fs, layer_locations={1: "Dockerfile:5"})
    found = {(f.kind, f.path) for f in result.findings}
    assert found == {
        ("private-key", "root/.ssh/id_rsa"),
        ("credential", "app/.env"),
        ("credential", "home/u/.npmrc"),
        ("token", "app/config.py"),
        ("setuid", "usr/bin/su"),
        ("world-writable", "srv/data"),
        ("world-writable", "app/run.sh"),
    }
    assert all(f.location == "Dockerfile:5" for f in result.findings)
    assert "hunter2" not in repr(result)
    assert "AKIA" not in repr(result)
    assert "usr/share/doc/x.txt" not in fs.reads  # package-owned files are not read


def test_accepts_any_file_view() -> None:
    view: FileView = MemoryFiles({})
    assert scan_files(view).findings == ()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
        ("ghp_" + "a" * 36, "GitHub token"),
        ("glpat-" + "a" * 20, "GitLab token"),
        ("hello", None),
    ],
)
def test_credential_kinds(value: str, kind: str | None) -> None:
    assert credential_kind(value) == kind


# One sample per token shape of repro.redact: what redaction hides in repro's own output,
# the image scan finds in files (both read the one list).
_TOKEN_SAMPLES = {
    "AWS access key id": "ASIAIOSFODNN7EXAMPLE",
    "GitHub token": "ghs_" + "b1" * 16,
    "GitHub fine-grained token": "github_pat_" + "x" * 40,
    "GitLab token": "glpat-" + "z" * 24,
    "Slack token": "xoxb-1234567890-abcdef",
    "Google API key": "AIza" + "Q" * 35,
    "npm token": "npm_" + "k" * 36,
    "PyPI token": "pypi-AgEIcHlwaS5vcmc" + "p" * 30,
    "JSON web token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
}


def test_every_token_shape_redaction_knows_is_found_by_the_scan() -> None:
    from repro.redact import TOKEN_SHAPES, looks_secret

    assert set(_TOKEN_SAMPLES) == {name for name, _ in TOKEN_SHAPES}
    for kind, sample in _TOKEN_SAMPLES.items():
        assert credential_kind(f"config: {sample}\n") == kind
        assert looks_secret("VALUE", sample), kind
