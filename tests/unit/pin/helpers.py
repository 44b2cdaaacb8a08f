"""A resolver table for the pin unit tests: a test double of repro's own Resolver interface.

Each canonical ``name:tag`` maps to a made-up digest (the sha256 of the canonical text),
so known-answer files can spell the expected digests out.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping

from repro.digest import Digest
from repro.errors import NotFoundError, RegistryError
from repro.pin import FunctionResolver, PlatformDigest, Resolution
from repro.platform import Platform
from repro.reference import ImageRef

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
NOW = datetime.datetime(2026, 11, 28, 7, 30, tzinfo=datetime.UTC)


def fake_digest(text: str) -> Digest:
    return Digest("sha256", hashlib.sha256(text.encode()).hexdigest())


def index(canonical: str, *platforms: str) -> Resolution:
    return Resolution(
        fake_digest(canonical),
        INDEX,
        tuple(PlatformDigest(Platform.parse(p), fake_digest(f"{canonical} {p}")) for p in platforms),
    )


def manifest(canonical: str) -> Resolution:
    return Resolution(fake_digest(canonical), MANIFEST)


def default_table() -> dict[str, Resolution]:
    return {
        "docker.io/library/debian:bookworm": index(
            "docker.io/library/debian:bookworm", "linux/amd64", "linux/arm64"
        ),
        "docker.io/library/alpine:3.20": index("docker.io/library/alpine:3.20", "linux/amd64", "linux/arm64"),
        "docker.io/library/busybox:1.36": manifest("docker.io/library/busybox:1.36"),
        "docker.io/library/busybox:latest": manifest("docker.io/library/busybox:latest"),
        "docker.io/docker/dockerfile:1.7": index("docker.io/docker/dockerfile:1.7", "linux/amd64"),
        "ghcr.io/acme/base:2": manifest("ghcr.io/acme/base:2"),
    }


class TableResolver(FunctionResolver):
    """Resolves tags from a table, digests by finding them in it; counts every request."""

    def __init__(
        self,
        table: Mapping[str, Resolution] | None = None,
        *,
        fail: Mapping[str, RegistryError] | None = None,
    ):
        self.table = dict(default_table() if table is None else table)
        self.fail = dict(fail or {})
        super().__init__(self._lookup)

    def _lookup(self, ref: ImageRef) -> Resolution:
        key = str(ref)
        if key in self.fail:
            raise self.fail[key]
        if ref.digest is None:
            if key not in self.table:
                raise NotFoundError(f"{key}: manifest unknown")
            return self.table[key]
        for canonical, resolution in self.table.items():
            if not canonical.startswith(ref.name + ":"):
                continue
            if resolution.digest == ref.digest:
                return resolution
            for entry in resolution.platforms:
                if entry.digest == ref.digest:
                    return Resolution(entry.digest, MANIFEST)
        raise NotFoundError(f"{key}: manifest unknown")
