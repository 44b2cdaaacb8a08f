"""Pushing blobs and manifests to a real registry, and reading them back."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testbed import RunningRegistry
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.errors import DigestMismatchError, NotFoundError, UsageError
from repro.oci import media
from repro.reference import parse_reference
from repro.registry import Manifest, RegistryClient
from repro.registry.client import UPLOAD_CHUNK_SIZE

CONFIG = b'{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


@pytest.fixture
def client(registry: RunningRegistry) -> Iterator[RegistryClient]:
    config = Config(registries={registry.host: RegistryConfig(insecure=True)}, timeout=10.0)
    with RegistryClient(config) as c:
        yield c


def _manifest(layers: list[bytes]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": {"mediaType": media.OCI_CONFIG, "digest": str(Digest.of(CONFIG)), "size": len(CONFIG)},
            "layers": [
                {"mediaType": media.OCI_LAYER_TAR, "digest": str(Digest.of(b)), "size": len(b)}
                for b in layers
            ],
        },
        separators=(",", ":"),
    ).encode()


def _pull(client: RegistryClient, host: str, path: str, digest: Digest) -> bytes:
    out = io.BytesIO()
    client.fetch_blob(host, path, digest, out)
    return out.getvalue()


class _OneWay(io.BytesIO):
    """A stream that cannot seek, like a pipe."""

    def seekable(self) -> bool:
        return False


def test_push_small_and_chunked_blobs_then_manifest(
    client: RegistryClient, registry: RunningRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="repro.registry.transport")
    host, path = registry.host, "push/image"
    small = os.urandom(4096)
    large = os.urandom(20 * 1024 * 1024)
    large_file = tmp_path / "large.bin"
    large_file.write_bytes(large)

    assert client.push_blob(host, path, Digest.of(CONFIG), io.BytesIO(CONFIG), len(CONFIG)) == "uploaded"
    assert client.push_blob(host, path, Digest.of(small), io.BytesIO(small), len(small)) == "uploaded"
    caplog.clear()
    # A file is streamed in one PATCH (the registry commits per request) ...
    assert client.push_blob(host, path, Digest.of(large), large_file, len(large)) == "uploaded"
    patches = [r for r in caplog.records if r.getMessage().startswith("PATCH ")]
    assert len(patches) == 1
    # ... a stream that cannot be rewound for a retry goes in bounded chunks.
    caplog.clear()
    other = os.urandom(20 * 1024 * 1024)
    assert client.push_blob(host, path, Digest.of(other), _OneWay(other), len(other)) == "uploaded"
    patches = [r for r in caplog.records if r.getMessage().startswith("PATCH ")]
    assert len(patches) == -(-len(other) // UPLOAD_CHUNK_SIZE) == 3
    assert _pull(client, host, path, Digest.of(other)) == other

    data = _manifest([small, large])
    digest = client.push_manifest(host, path, "v1", data, media.OCI_MANIFEST)
    assert digest == Digest.of(data)

    pulled = client.get_manifest(parse_reference(f"{host}/{path}:v1"))
    assert isinstance(pulled, Manifest)
    assert pulled.data == data
    assert _pull(client, host, path, Digest.of(small)) == small
    dest = tmp_path / "large.out"
    client.fetch_blob(host, path, Digest.of(large), dest, size=len(large))
    assert dest.read_bytes() == large


def test_push_twice_skips(client: RegistryClient, registry: RunningRegistry) -> None:
    host, path = registry.host, "push/twice"
    blob = os.urandom(100)
    assert client.push_blob(host, path, Digest.of(blob), io.BytesIO(blob), len(blob)) == "uploaded"
    assert client.blob_exists(host, path, Digest.of(blob))
    assert client.push_blob(host, path, Digest.of(blob), io.BytesIO(blob), len(blob)) == "exists"


def test_cross_repository_mount(client: RegistryClient, registry: RunningRegistry) -> None:
    host = registry.host
    blob = os.urandom(2048)
    digest = Digest.of(blob)
    client.push_blob(host, "mount/source", digest, io.BytesIO(blob), len(blob))
    assert not client.blob_exists(host, "mount/target", digest)
    assert client.push_blob(
        host, "mount/target", digest, io.BytesIO(b""), len(blob), mount_from="mount/source"
    ) == ("mounted")
    assert _pull(client, host, "mount/target", digest) == blob
    # Written with the registry host, as a full name: same registry, so still a mount.
    assert (
        client.push_blob(
            host, "mount/third", digest, io.BytesIO(b""), len(blob), mount_from=f"{host}/mount/source"
        )
        == "mounted"
    )
    # A source that lacks the blob: the registry starts an ordinary upload instead.
    other = os.urandom(64)
    assert (
        client.push_blob(
            host, "mount/target", Digest.of(other), io.BytesIO(other), len(other), mount_from="mount/empty"
        )
        == "uploaded"
    )


def test_source_not_matching_its_digest_is_refused(client: RegistryClient, registry: RunningRegistry) -> None:
    host, path = registry.host, "push/bad"
    blob = os.urandom(100)
    with pytest.raises(DigestMismatchError):
        client.push_blob(host, path, Digest.of(b"something else"), io.BytesIO(blob), len(blob))
    with pytest.raises(DigestMismatchError):
        client.push_blob(host, path, Digest.of(blob), io.BytesIO(blob + b"extra"), len(blob))
    big = os.urandom(UPLOAD_CHUNK_SIZE + 10)
    with pytest.raises(DigestMismatchError):
        client.push_blob(host, path, Digest.of(big), io.BytesIO(big[:-1] + b"!"), len(big))
    assert not client.blob_exists(host, path, Digest.of(big))


def test_manifest_before_its_blobs_is_refused(client: RegistryClient, registry: RunningRegistry) -> None:
    host, path = registry.host, "push/order"
    missing = os.urandom(10)
    client.push_blob(host, path, Digest.of(CONFIG), io.BytesIO(CONFIG), len(CONFIG))
    data = _manifest([missing])
    with pytest.raises(NotFoundError, match="refusing to push"):
        client.push_manifest(host, path, "v1", data, media.OCI_MANIFEST)
    with pytest.raises(NotFoundError):
        client.resolve(parse_reference(f"{host}/{path}:v1"))


def test_push_manifest_by_digest(client: RegistryClient, registry: RunningRegistry) -> None:
    host, path = registry.host, "push/bydigest"
    client.push_blob(host, path, Digest.of(CONFIG), io.BytesIO(CONFIG), len(CONFIG))
    data = _manifest([])
    digest = Digest.of(data)
    assert client.push_manifest(host, path, str(digest), data, media.OCI_MANIFEST) == digest
    assert client.resolve(parse_reference(f"{host}/{path}@{digest}")).digest == digest
    with pytest.raises(UsageError):
        client.push_manifest(host, path, str(Digest.of(b"x")), data, media.OCI_MANIFEST)
