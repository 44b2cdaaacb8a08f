"""Resolve and pull against a real Distribution registry; digests compared with skopeo's."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testbed import BaseImages, RunningRegistry
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.errors import (
    DigestMismatchError,
    NotFoundError,
    PlatformNotFoundError,
    RegistryError,
    RegistryUnreachableError,
)
from repro.oci import media
from repro.platform import Platform
from repro.reference import parse_reference
from repro.registry import Index, Manifest, RegistryClient


def _client(*hosts: str, mirrors: dict[str, tuple[str, ...]] | None = None) -> RegistryClient:
    registries = {host: RegistryConfig(insecure=True) for host in hosts}
    for domain, entries in (mirrors or {}).items():
        registries[domain] = RegistryConfig(mirrors=entries)
    return RegistryClient(Config(registries=registries, timeout=10.0))


@pytest.fixture
def client(registry: RunningRegistry) -> Iterator[RegistryClient]:
    with _client(registry.host) as c:
        yield c


def test_resolve_tags_match_skopeo(client: RegistryClient, base_images: BaseImages) -> None:
    images = [base_images.busybox, base_images.busybox_1_36, base_images.multi]
    if base_images.debian is not None:
        images.append(base_images.debian)
    for image in images:
        resolved = client.resolve(parse_reference(image.reference))
        assert str(resolved.digest) == image.digest, image.reference
        assert resolved.media_type == image.media_type
        assert resolved.size == len(image.manifest)
        assert resolved.ref.text == image.reference
        assert resolved.source == base_images.host
        assert resolved.pinned == image.pinned


def test_resolve_index_lists_platform_digests(client: RegistryClient, base_images: BaseImages) -> None:
    resolved = client.resolve(parse_reference(base_images.multi.reference))
    assert resolved.is_index
    got = {str(p.platform): str(p.digest) for p in resolved.platforms}
    expected = {str(Platform.parse(name)): digest for name, digest in base_images.multi_manifests.items()}
    assert got == expected
    assert got["linux/amd64"] == base_images.busybox.digest


def test_resolve_requested_platforms(client: RegistryClient, base_images: BaseImages) -> None:
    ref = parse_reference(base_images.multi.reference)
    arm64, amd64 = Platform.parse("linux/arm64"), Platform.parse("linux/amd64")
    resolved = client.resolve(ref, platforms=[arm64, amd64])
    assert [p.platform for p in resolved.platforms] == [arm64, amd64]
    assert str(resolved.platforms[1].digest) == base_images.busybox.digest
    with pytest.raises(PlatformNotFoundError, match="linux/s390x"):
        client.resolve(ref, platforms=[Platform.parse("linux/s390x")])


def test_single_platform_image_checked_against_its_config(
    client: RegistryClient, base_images: BaseImages
) -> None:
    ref = parse_reference(base_images.busybox.reference)
    config = json.loads(
        client.get_manifest(ref).data  # the test image names its platform in its config
    )["config"]
    blob = io.BytesIO()
    client.fetch_blob(ref.domain, ref.path, Digest.parse(config["digest"]), blob, size=config["size"])
    platform = Platform.from_oci(json.loads(blob.getvalue()))
    resolved = client.resolve(ref, platforms=[platform])
    assert [p.digest for p in resolved.platforms] == [resolved.digest]
    other = Platform.parse("linux/s390x")
    with pytest.raises(PlatformNotFoundError, match="linux/s390x"):
        client.resolve(ref, platforms=[other])


def test_resolve_by_digest_checks_existence(client: RegistryClient, base_images: BaseImages) -> None:
    ref = parse_reference(base_images.busybox.pinned)
    resolved = client.resolve(ref)
    assert str(resolved.digest) == base_images.busybox.digest
    missing = parse_reference(f"{base_images.host}/busybox@sha256:{'0' * 64}")
    with pytest.raises(NotFoundError):
        client.resolve(missing)


def test_missing_tag_and_repository(client: RegistryClient, base_images: BaseImages) -> None:
    with pytest.raises(NotFoundError, match="busybox:nope"):
        client.resolve(parse_reference(f"{base_images.host}/busybox:nope"))
    with pytest.raises(NotFoundError):
        client.resolve(parse_reference(f"{base_images.host}/no/such/repo:latest"))


def test_get_manifest_exact_bytes(client: RegistryClient, base_images: BaseImages) -> None:
    manifest = client.get_manifest(parse_reference(base_images.busybox.reference))
    assert isinstance(manifest, Manifest)
    assert manifest.data == base_images.busybox.manifest
    assert str(manifest.digest) == base_images.busybox.digest
    by_digest = client.get_manifest(parse_reference(base_images.busybox.by_digest))
    assert by_digest.data == manifest.data
    index = client.get_manifest(parse_reference(base_images.multi.reference))
    assert isinstance(index, Index)
    assert index.media_type == media.OCI_INDEX


def test_fetch_blob_to_path_and_stream(
    client: RegistryClient, base_images: BaseImages, tmp_path: Path
) -> None:
    ref = parse_reference(base_images.busybox.reference)
    manifest = client.get_manifest(ref)
    assert isinstance(manifest, Manifest)
    layer = manifest.layers[0]
    dest = tmp_path / "layer.tar.gz"
    size = client.fetch_blob(ref.domain, ref.path, layer.digest, dest, size=layer.size)
    assert size == layer.size
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == layer.digest.hex
    stream = io.BytesIO()
    client.fetch_blob(ref.domain, ref.path, layer.digest, stream)
    assert stream.getvalue() == dest.read_bytes()


def test_fetch_blob_wrong_size_leaves_nothing(
    client: RegistryClient, base_images: BaseImages, tmp_path: Path
) -> None:
    ref = parse_reference(base_images.busybox.reference)
    manifest = client.get_manifest(ref)
    assert isinstance(manifest, Manifest)
    layer = manifest.layers[0]
    dest = tmp_path / "layer"
    with pytest.raises(DigestMismatchError):
        client.fetch_blob(ref.domain, ref.path, layer.digest, dest, size=layer.size - 1)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NotFoundError):
        client.fetch_blob(ref.domain, ref.path, Digest.of(b"no such blob"), dest)
    assert list(tmp_path.iterdir()) == []


def test_resolve_many(client: RegistryClient, base_images: BaseImages) -> None:
    refs = [
        parse_reference(base_images.busybox.reference),
        parse_reference(base_images.multi.reference),
        parse_reference(base_images.busybox_1_36.reference),
        parse_reference(f"{base_images.host}/busybox:missing"),
        parse_reference(base_images.busybox.reference),  # duplicates are resolved once
    ]
    results = client.resolve_many(refs)
    assert len(results) == 4
    ok = results[refs[0]]
    assert not isinstance(ok, RegistryError)
    assert str(ok.digest) == base_images.busybox.digest
    multi = results[refs[1]]
    assert not isinstance(multi, RegistryError)
    assert str(multi.digest) == base_images.multi.digest
    assert isinstance(results[refs[3]], NotFoundError)


def test_https_against_plain_http_fails_clearly(base_images: BaseImages) -> None:
    with RegistryClient(Config(timeout=5.0)) as client:
        started = time.monotonic()
        with pytest.raises(RegistryUnreachableError, match="TLS") as info:
            client.resolve(parse_reference(base_images.busybox.reference))
    assert time.monotonic() - started < 5
    assert "insecure" in (info.value.hint or "")


def test_connection_refused_is_reported_quickly(fresh_registry: RunningRegistry) -> None:
    host = fresh_registry.host
    fresh_registry.kill()
    with _client(host) as client:
        started = time.monotonic()
        with pytest.raises(RegistryUnreachableError, match="refused"):
            client.resolve(parse_reference(f"{host}/busybox:latest"))
        elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed


def _copy_image(client: RegistryClient, host: str, source: str, target: str, tag: str) -> None:
    """Copy one single-platform image between repositories of ``host`` with the client."""
    ref = parse_reference(f"{host}/{source}:{tag}")
    manifest = client.get_manifest(ref)
    assert isinstance(manifest, Manifest)
    for blob in (manifest.config, *manifest.layers):
        client.push_blob(
            host, target, blob.digest, io.BytesIO(_blob(client, host, source, blob.digest)), blob.size
        )
    client.push_manifest(host, target, tag, manifest.data, manifest.media_type)


def _blob(client: RegistryClient, host: str, path: str, digest: Digest) -> bytes:
    out = io.BytesIO()
    client.fetch_blob(host, path, digest, out)
    return out.getvalue()


def test_docker_hub_mirror(
    registry: RunningRegistry, base_images: BaseImages, fresh_registry: RunningRegistry
) -> None:
    host = registry.host
    with _client(host) as plain:
        _copy_image(plain, host, "busybox", "hub/library/busybox", "latest")
    dead = fresh_registry.host
    fresh_registry.kill()
    mirrors = (dead, f"{host}/empty", f"{host}/hub")
    with _client(host, dead, mirrors={"docker.io": mirrors}) as client:
        ref = parse_reference("busybox:latest")
        resolved = client.resolve(ref)
        assert str(resolved.digest) == base_images.busybox.digest
        assert resolved.ref is ref
        assert resolved.ref.text == "busybox:latest"
        assert resolved.source == f"{host}/hub"
        manifest = client.get_manifest(ref)
        assert manifest.data == base_images.busybox.manifest
        assert isinstance(manifest, Manifest)
        stream = io.BytesIO()
        client.fetch_blob("docker.io", "library/busybox", manifest.config.digest, stream)
        assert Digest.of(stream.getvalue()) == manifest.config.digest


def test_resolve_many_with_one_connection_does_not_deadlock(base_images: BaseImages) -> None:
    config = Config(
        registries={base_images.host: RegistryConfig(insecure=True, max_concurrency=1)}, timeout=10.0
    )
    refs = [
        parse_reference(i.reference)
        for i in (base_images.busybox, base_images.multi, base_images.busybox_1_36)
    ]
    with RegistryClient(config) as client:
        results = client.resolve_many(refs, platforms=[Platform.parse("linux/amd64")])
    for ref in refs:
        outcome = results[ref]
        assert not isinstance(outcome, RegistryError), outcome
        assert [str(p.digest) for p in outcome.platforms] == [base_images.busybox.digest]


def test_resolved_to_json(client: RegistryClient, base_images: BaseImages) -> None:
    resolved = client.resolve(parse_reference(base_images.multi.reference))
    document = json.loads(json.dumps(resolved.to_json()))
    assert document["digest"] == base_images.multi.digest
    assert document["ref"] == base_images.multi.reference
    assert document["pinned"] == base_images.multi.pinned
    assert {p["platform"] for p in document["platforms"]} == {"linux/amd64", "linux/arm64"}


def test_unreachable_registry_says_what_happened_and_names_the_mirror_404(
    registry: RunningRegistry, fresh_registry: RunningRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    host = registry.host
    dead = fresh_registry.host
    fresh_registry.kill()
    with (
        _client(host, mirrors={dead: (f"{host}/empty",)}) as client,
        pytest.raises(RegistryUnreachableError) as caught,
    ):
        client.resolve(parse_reference(f"{dead}/app:1"))
    message = str(caught.value)
    assert "connection refused" in message
    assert f"mirror {host}/empty answered 404 (it does not have app)" in message
    assert caught.value.hint.startswith("check the port")
    assert f'[registries."{dead}"] mirrors' in caught.value.hint
    # said at the default log level, not only with -v
    assert any(r.levelname == "WARNING" and "answered 404" in r.getMessage() for r in caplog.records)


def test_a_name_that_does_not_resolve_is_called_a_dns_failure() -> None:
    with _client() as client, pytest.raises(RegistryUnreachableError) as caught:
        client.resolve(parse_reference("registry.does-not-exist.invalid/app:1"))
    assert "no DNS answer" in str(caught.value)
    assert caught.value.hint.startswith("the name does not resolve")
    assert "REPRO_REGISTRY_MIRRORS=registry.does-not-exist.invalid=" in caught.value.hint
