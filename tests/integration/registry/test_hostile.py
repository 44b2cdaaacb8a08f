"""The registry client against a real registry behind a proxy that misbehaves on purpose.

Every test puts :class:`~devtools.testbed.proxy.FaultProxy` between repro and a real
Distribution registry and asks it for one kind of trouble: lying digests, altered or
cut bodies, oversized manifests, redirects to another host, rate limits, outages, a
registry killed in the middle of a push, and random hostile bytes. The client must
fail closed with a :class:`~repro.errors.RegistryError` and keep nothing it did not
verify, or recover within its retry bounds.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.testbed import BaseImages, RunningRegistry
from devtools.testbed.proxy import (
    MIB,
    AlterBody,
    Drop,
    FaultProxy,
    Hook,
    Oversize,
    Redirect,
    RedirectTarget,
    Respond,
    SeenRequest,
    Status,
    Truncate,
    WrongDigest,
)
from devtools.testbed.registry import free_port
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.errors import (
    DigestMismatchError,
    ManifestTooLargeError,
    NotFoundError,
    RegistryError,
    RegistryUnreachableError,
)
from repro.oci import media
from repro.reference import parse_reference
from repro.registry import Manifest, RegistryClient, RetryPolicy
from repro.registry.client import MAX_MANIFEST_SIZE, UPLOAD_CHUNK_SIZE

MANIFESTS = r"/v2/busybox/manifests/"
BLOBS = r"/v2/busybox/blobs/sha256:"
FAST_RETRIES = RetryPolicy(attempts=2, total=5.0, backoff=0.01, max_backoff=0.01, max_retry_after=0.01)


def _client(*hosts: str, policy: RetryPolicy | None = None) -> RegistryClient:
    config = Config(registries={h: RegistryConfig(insecure=True) for h in hosts}, timeout=10.0)
    return RegistryClient(config, policy=policy)


@pytest.fixture
def proxy(registry: RunningRegistry, base_images: BaseImages) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as running:
        yield running


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[RegistryClient]:
    with _client(proxy.host) as c:
        yield c


def _layer(base_images: BaseImages) -> tuple[Digest, int]:
    layer = base_images.busybox.manifest_json()["layers"][0]
    return Digest.parse(layer["digest"]), int(layer["size"])


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- lying digests and altered bodies -----------------------------------------------------


def test_wrong_digest_header_is_not_returned_by_resolve(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    proxy.add(WrongDigest(), path=MANIFESTS + "latest$")
    with pytest.raises(DigestMismatchError):
        client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))


def test_wrong_digest_header_on_get_manifest(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    proxy.add(WrongDigest(), path=MANIFESTS + "latest$")
    with pytest.raises(DigestMismatchError, match="announced by the registry"):
        client.get_manifest(parse_reference(f"{proxy.host}/busybox:latest"))


def test_wrong_digest_header_for_a_pinned_reference(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    proxy.add(WrongDigest(), path=MANIFESTS)
    with pytest.raises(DigestMismatchError):
        client.resolve(parse_reference(f"{proxy.host}/busybox@{base_images.busybox.digest}"))


def test_wrong_digest_header_pins_nothing(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages, tmp_path: Path
) -> None:
    from repro.pin import pin_paths

    dockerfile = tmp_path / "Dockerfile"
    original = f"FROM {proxy.host}/busybox:latest\nRUN true\n"
    dockerfile.write_text(original)
    proxy.add(WrongDigest(), path=MANIFESTS + "latest$")
    report = pin_paths([tmp_path], client=client)
    assert report.exit_code != 0
    assert any("digest" in str(failure).lower() for failure in report.failures), report.failures
    assert dockerfile.read_text() == original
    assert not (tmp_path / "repro.lock").exists()
    with pytest.raises(DigestMismatchError):
        pin_paths([tmp_path], client=client, fail_fast=True)
    assert dockerfile.read_text() == original


@pytest.mark.parametrize(
    "alter",
    [
        AlterBody(offset=10),
        AlterBody(offset=3, insert=b" "),
        AlterBody(offset=3, insert=b" ", fix_length=False),
    ],
    ids=["flip", "insert", "insert-keep-length"],
)
def test_altered_manifest_by_digest(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages, alter: AlterBody
) -> None:
    proxy.add(alter, path=MANIFESTS + "sha256:", methods=("GET",))
    with pytest.raises(DigestMismatchError):
        client.get_manifest(
            parse_reference(base_images.busybox.by_digest.replace(base_images.host, proxy.host))
        )


@pytest.mark.parametrize(
    "alter",
    [
        AlterBody(offset=5000),
        AlterBody(offset=0, insert=b"x"),
        AlterBody(offset=0, insert=b"x", fix_length=False),
    ],
    ids=["flip", "insert", "insert-keep-length"],
)
@pytest.mark.parametrize("sized", [True, False], ids=["size-known", "size-unknown"])
def test_altered_blob_is_refused_and_not_kept(
    proxy: FaultProxy,
    client: RegistryClient,
    base_images: BaseImages,
    tmp_path: Path,
    *,
    alter: AlterBody,
    sized: bool,
) -> None:
    digest, size = _layer(base_images)
    proxy.add(alter, path=BLOBS, methods=("GET",))
    dest = tmp_path / "layer.tar.gz"
    with pytest.raises(DigestMismatchError):
        client.fetch_blob(proxy.host, "busybox", digest, dest, size=size if sized else None)
    assert _leftovers(tmp_path) == []


def test_altered_blob_into_a_stream(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    digest, size = _layer(base_images)
    proxy.add(AlterBody(offset=size - 1), path=BLOBS, methods=("GET",))
    with pytest.raises(DigestMismatchError):
        client.fetch_blob(proxy.host, "busybox", digest, io.BytesIO(), size=size)


# -- truncated bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("sized", [True, False], ids=["size-known", "size-unknown"])
def test_truncated_blob_leaves_no_partial_file(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages, tmp_path: Path, sized: bool
) -> None:
    digest, size = _layer(base_images)
    proxy.add(Truncate(after=size // 2), path=BLOBS, methods=("GET",))
    dest = tmp_path / "layer.tar.gz"
    with pytest.raises(RegistryError) as caught:
        client.fetch_blob(proxy.host, "busybox", digest, dest, size=size if sized else None)
    assert "connection lost" in str(caught.value) or "truncated" in str(caught.value)
    assert _leftovers(tmp_path) == []
    assert proxy.bytes_sent(BLOBS) == size // 2


def test_truncated_manifest(proxy: FaultProxy, client: RegistryClient, base_images: BaseImages) -> None:
    proxy.add(Truncate(after=20), path=MANIFESTS, methods=("GET",))
    with pytest.raises(RegistryError):
        client.get_manifest(parse_reference(f"{proxy.host}/busybox:latest"))


# -- oversized manifests -------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_oversized_manifest(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages, framing: str
) -> None:
    proxy.add(Oversize(size=5 * MIB, framing=framing), path=MANIFESTS, methods=("GET",))  # type: ignore[arg-type]
    with pytest.raises(ManifestTooLargeError):
        client.get_manifest(parse_reference(f"{proxy.host}/busybox:latest"))


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_endless_manifest_is_not_read_past_the_limit(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages, framing: str
) -> None:
    proxy.add(Oversize(size=None, framing=framing), path=MANIFESTS, methods=("GET",))  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(ManifestTooLargeError):
        client.get_manifest(parse_reference(f"{proxy.host}/busybox:latest"))
    assert time.monotonic() - started < 10
    # What the proxy managed to write is what the client read plus what the two loopback
    # socket buffers held when the client hung up: far from the gigabyte on offer.
    deadline = time.monotonic() + 5
    sent = proxy.bytes_sent(MANIFESTS)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if proxy.bytes_sent(MANIFESTS) == sent:
            break
        sent = proxy.bytes_sent(MANIFESTS)
    assert MAX_MANIFEST_SIZE < sent < MAX_MANIFEST_SIZE + 12 * MIB


def test_oversized_index_while_resolving(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    proxy.add(
        Oversize(size=5 * MIB, framing="chunked", content_type=media.OCI_INDEX),
        path=r"/v2/multi/manifests/",
        methods=("GET",),
    )
    with pytest.raises(ManifestTooLargeError):
        client.resolve(parse_reference(f"{proxy.host}/multi:latest"))


# -- redirects -----------------------------------------------------------------------------


def _docker_login(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, host: str, user: str, password: str
) -> None:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    directory = tmp_path / "docker"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))


def test_redirect_to_another_host_gets_no_authorization(
    token_registry: RunningRegistry,
    token_base_images: BaseImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert token_registry.username is not None
    assert token_registry.password is not None
    digest, size = _layer(token_base_images)
    with FaultProxy(token_registry.url) as proxy, RedirectTarget() as storage:
        _docker_login(monkeypatch, tmp_path, proxy.host, token_registry.username, token_registry.password)
        proxy.add(Redirect(storage), path=BLOBS, methods=("GET",))
        dest = tmp_path / "layer.tar.gz"
        with _client(proxy.host, storage.host) as client:
            assert client.fetch_blob(proxy.host, "busybox", digest, dest, size=size) == size
        assert Digest.of(dest.read_bytes()) == digest
        # The registry got the token; the storage host got the request, without it.
        assert any(
            r.headers.get("Authorization", "").startswith("Bearer ")
            for r in proxy.requests
            if "/blobs/" in r.path
        )
        assert storage.requests, "the client did not follow the redirect"
        assert not storage.received_authorization()


def test_redirect_to_corrupt_storage_is_refused(
    proxy: FaultProxy, base_images: BaseImages, tmp_path: Path
) -> None:
    digest, size = _layer(base_images)
    with RedirectTarget(corrupt=True) as storage, _client(proxy.host, storage.host) as client:
        proxy.add(Redirect(storage), path=BLOBS, methods=("GET",))
        with pytest.raises(DigestMismatchError):
            client.fetch_blob(proxy.host, "busybox", digest, tmp_path / "layer", size=size)
        assert len(storage.requests) == 1
    assert _leftovers(tmp_path) == []


def test_only_the_first_main_effect_applies(proxy: FaultProxy, base_images: BaseImages) -> None:
    digest, size = _layer(base_images)
    proxy.add(Status(503), path=BLOBS, times=1)
    proxy.add(AlterBody(offset=1), path=BLOBS)  # shadowed by the 503 for the first request
    with _client(proxy.host, policy=FAST_RETRIES) as client, pytest.raises(DigestMismatchError):
        client.fetch_blob(proxy.host, "busybox", digest, io.BytesIO(), size=size)
    assert proxy.count("GET", BLOBS) == 2


# -- rate limits and outages ---------------------------------------------------------------


def test_rate_limited_with_retry_after_then_succeeds(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    proxy.add(Status(429, retry_after="1"), path=MANIFESTS + "latest$", times=2)
    started = time.monotonic()
    resolved = client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))
    elapsed = time.monotonic() - started
    assert str(resolved.digest) == base_images.busybox.digest
    assert proxy.count(path=MANIFESTS + "latest$") == 3
    seen = [r.at for r in proxy.requests if r.path.endswith("/manifests/latest")]
    assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(seen))
    assert 2.0 <= elapsed < 6.0


def test_unavailable_twice_then_succeeds(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    proxy.add(Status(503), path=MANIFESTS, times=2)
    digest, size = _layer(base_images)
    proxy.add(Status(503), path=BLOBS, times=2)
    resolved = client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))
    assert str(resolved.digest) == base_images.busybox.digest
    assert proxy.count(path=MANIFESTS) == 3
    buffer = io.BytesIO()
    assert client.fetch_blob(proxy.host, "busybox", digest, buffer, size=size) == size
    assert proxy.count("GET", BLOBS) == 3


def test_unavailable_forever_fails_in_bounded_time(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    proxy.add(Status(503), path=MANIFESTS)
    started = time.monotonic()
    with pytest.raises(RegistryError, match="503") as caught:
        client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))
    assert time.monotonic() - started < 15
    assert proxy.count(path=MANIFESTS) == RetryPolicy().attempts
    assert caught.value.hint


def test_rate_limited_forever_says_so(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    proxy.add(Status(429, retry_after="1"), path=MANIFESTS)
    started = time.monotonic()
    with pytest.raises(RegistryError, match="429"):
        client.get_manifest(parse_reference(f"{proxy.host}/busybox:latest"))
    assert time.monotonic() - started < 15


def test_dropped_connections_are_retried_then_reported(
    proxy: FaultProxy, client: RegistryClient, base_images: BaseImages
) -> None:
    proxy.add(Drop(), path=MANIFESTS, times=1)
    resolved = client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))
    assert str(resolved.digest) == base_images.busybox.digest
    assert proxy.count(path=MANIFESTS) == 2
    proxy.add(Drop(), path=MANIFESTS)
    started = time.monotonic()
    with pytest.raises(RegistryUnreachableError):
        client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))
    assert time.monotonic() - started < 15


def test_connection_refused_is_unreachable_quickly() -> None:
    host = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with _client(host) as client, pytest.raises(RegistryUnreachableError, match="refused"):
        client.resolve(parse_reference(f"{host}/busybox:latest"))
    assert time.monotonic() - started < 5


# -- a registry killed in the middle of a push ---------------------------------------------

CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


def _push_image(client: RegistryClient, host: str, path: str, tag: str, layer: bytes) -> bytes:
    """Push config, layer and manifest in that order; return the manifest bytes."""
    for blob in (CONFIG, layer):
        client.push_blob(host, path, Digest.of(blob), io.BytesIO(blob), len(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": {"mediaType": media.OCI_CONFIG, "digest": str(Digest.of(CONFIG)), "size": len(CONFIG)},
            "layers": [
                {"mediaType": media.OCI_LAYER_TAR, "digest": str(Digest.of(layer)), "size": len(layer)}
            ],
        }
    ).encode()
    client.push_manifest(host, path, tag, manifest, media.OCI_MANIFEST)
    return manifest


def _assert_complete(client: RegistryClient, host: str, path: str, tag: str, tmp_path: Path) -> None:
    """The tag's manifest and every blob it references can be fetched and verify."""
    manifest = client.get_manifest(parse_reference(f"{host}/{path}:{tag}"))
    assert isinstance(manifest, Manifest)
    for index, blob in enumerate((manifest.config, *manifest.layers)):
        dest = tmp_path / f"blob-{index}"
        assert client.fetch_blob(host, path, blob.digest, dest, size=blob.size) == blob.size


@pytest.mark.slow
def test_registry_killed_during_chunked_upload_then_push_again(
    fresh_registry: RunningRegistry, tmp_path: Path
) -> None:
    layer = os.urandom(3 * UPLOAD_CHUNK_SIZE + 1234)  # larger than one chunk: a PATCH upload
    killed = threading.Event()

    def kill(request: SeenRequest) -> None:
        fresh_registry.kill()
        killed.set()

    with FaultProxy(fresh_registry.url) as proxy, _client(proxy.host) as client:
        # The registry dies as the upload's PATCH arrives.
        proxy.add(Hook(kill), path=r"/blobs/uploads/", methods=("PATCH",), skip=0, times=1)
        with pytest.raises(RegistryError):
            _push_image(client, proxy.host, "crash/test", "v1", layer)
        assert killed.is_set()
        assert proxy.count("PATCH", r"/blobs/uploads/") >= 1
        assert proxy.count("PUT", r"/manifests/") == 0

        fresh_registry.start()
        with pytest.raises(NotFoundError):
            client.resolve(parse_reference(f"{proxy.host}/crash/test:v1"))
        assert not client.blob_exists(proxy.host, "crash/test", Digest.of(layer))

        manifest = _push_image(client, proxy.host, "crash/test", "v1", layer)
        resolved = client.resolve(parse_reference(f"{proxy.host}/crash/test:v1"))
        assert resolved.digest == Digest.of(manifest)
        _assert_complete(client, proxy.host, "crash/test", "v1", tmp_path)


def test_manifest_is_refused_while_a_blob_is_missing(fresh_registry: RunningRegistry) -> None:
    with _client(fresh_registry.host) as client:
        layer = os.urandom(2048)
        client.push_blob(fresh_registry.host, "half/test", Digest.of(CONFIG), io.BytesIO(CONFIG), len(CONFIG))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": media.OCI_MANIFEST,
                "config": {
                    "mediaType": media.OCI_CONFIG,
                    "digest": str(Digest.of(CONFIG)),
                    "size": len(CONFIG),
                },
                "layers": [
                    {"mediaType": media.OCI_LAYER_TAR, "digest": str(Digest.of(layer)), "size": len(layer)}
                ],
            }
        ).encode()
        with pytest.raises(NotFoundError, match="refusing to push"):
            client.push_manifest(fresh_registry.host, "half/test", "v1", manifest, media.OCI_MANIFEST)
        with pytest.raises(NotFoundError):
            client.resolve(parse_reference(f"{fresh_registry.host}/half/test:v1"))


# -- hostile bytes (hypothesis) ------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_proxy(registry: RunningRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as running:
        yield running


_HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x09, max_codepoint=0xFF, blacklist_characters="\r\n"), max_size=300
)
_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
_FIELDS = st.sampled_from(
    ["schemaVersion", "mediaType", "config", "layers", "manifests", "digest", "size", "platform",
     "annotations", "subject", "artifactType", "urls", "os", "architecture", "variant"]
)  # fmt: skip
_JSON = st.recursive(
    _JSON_LEAF
    | st.sampled_from(
        [2, media.OCI_MANIFEST, media.OCI_INDEX, "sha256:" + "0" * 64, "sha256:xyz", -1, 2**70, "linux"]
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_FIELDS | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)
_BODIES = st.one_of(
    st.binary(max_size=2048),
    _JSON.map(lambda value: json.dumps(value).encode()),
    st.text(max_size=500).map(str.encode),
)
_CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [media.OCI_MANIFEST, media.OCI_INDEX, media.DOCKER_MANIFEST, "application/json", "text/html", ""]
    ),
    _HEADER_TEXT,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_BODIES, content_type=_CONTENT_TYPES, digest_header=st.sampled_from(["none", "true", "garbage"]))
def test_hostile_manifest_bodies_raise_registry_errors_only(
    hostile_proxy: FaultProxy, base_images: BaseImages, body: bytes, content_type: str, digest_header: str
) -> None:
    headers = {"Content-Type": content_type}
    if digest_header == "true":
        headers["Docker-Content-Digest"] = str(Digest.of(body))
    elif digest_header == "garbage":
        headers["Docker-Content-Digest"] = "sha256:" + body[:20].hex()
    hostile_proxy.reset()
    hostile_proxy.add(Respond(200, body, headers), path=MANIFESTS)
    with _client(hostile_proxy.host, policy=FAST_RETRIES) as client:
        for call in (client.get_manifest, client.resolve):
            with contextlib.suppress(RegistryError):
                call(parse_reference(f"{hostile_proxy.host}/busybox:latest"))


_REALMS = st.sampled_from(
    [
        "http://127.0.0.1:{closed}/token",
        "http://{proxy}/token",
        "http://{proxy}/token?x=1",
        "file:///etc/passwd",
        "ftp://127.0.0.1/token",
        "",
        "http://",
        "http://[::1",
        "http://127.0.0.1:99999/token",
        "//{proxy}/token",
    ]
)
_CHALLENGE = st.builds(
    lambda scheme, realm, params, raw: (
        f'{scheme} realm="{realm}",' + ",".join(f"{k}={v}" for k, v in params) + raw
    ),
    st.sampled_from(["Bearer", "bearer", "Basic", "Digest", "Negotiate", "", "Bearer Bearer"]),
    _REALMS,
    st.lists(
        st.tuples(
            st.sampled_from(["service", "scope", "error", "realm", "x", "", '"']),
            st.one_of(_HEADER_TEXT.map(lambda t: f'"{t}"'), _HEADER_TEXT.filter(lambda t: "," not in t)),
        ),
        max_size=4,
    ),
    _HEADER_TEXT,
)
# Tokens beyond Latin-1 cannot be sent as a header; printable ASCII ones can.
_TOKEN_LEAF = _JSON_LEAF | st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40
)
_TOKEN_BODIES = st.one_of(
    st.binary(max_size=512),
    st.fixed_dictionaries(
        {},
        optional={
            "token": _TOKEN_LEAF,
            "access_token": _TOKEN_LEAF,
            "expires_in": _TOKEN_LEAF | st.floats() | st.sampled_from([-1, 0, 10**30]),
            "issued_at": _TOKEN_LEAF,
        },
    ).map(lambda value: json.dumps(value).encode()),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    challenge=st.one_of(_CHALLENGE, _HEADER_TEXT),
    token_body=_TOKEN_BODIES,
    token_status=st.sampled_from([200, 401, 500]),
)
def test_hostile_auth_challenges_raise_registry_errors_only(
    hostile_proxy: FaultProxy, base_images: BaseImages, challenge: str, token_body: bytes, token_status: int
) -> None:
    challenge = challenge.replace("{closed}", "9").replace("{proxy}", hostile_proxy.host)
    hostile_proxy.reset()
    hostile_proxy.add(
        Respond(token_status, token_body, {"Content-Type": "application/json"}), path=r"^/token"
    )
    hostile_proxy.add(Respond(401, b"", {"WWW-Authenticate": challenge}), path=r"^/v2/")
    with _client(hostile_proxy.host, policy=FAST_RETRIES) as client:
        try:
            client.resolve(parse_reference(f"{hostile_proxy.host}/busybox:latest"))
        except RegistryError:
            pass
        else:
            pytest.fail("a registry that only answers 401 cannot resolve anything")


def _challenge_answers(proxy: FaultProxy, challenge: str, token_body: bytes) -> None:
    proxy.add(Respond(200, token_body, {"Content-Type": "application/json"}), path=r"^/token")
    proxy.add(Respond(401, b"", {"WWW-Authenticate": challenge}), path=r"^/v2/")


def test_malformed_realm_is_a_registry_error(proxy: FaultProxy, base_images: BaseImages) -> None:
    _challenge_answers(proxy, 'Bearer realm="http://[::1/token",service="x"', b"")
    with _client(proxy.host, policy=FAST_RETRIES) as client, pytest.raises(RegistryError):
        client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))


def test_token_outside_latin1_is_a_registry_error(proxy: FaultProxy, base_images: BaseImages) -> None:
    _challenge_answers(
        proxy,
        f'Bearer realm="http://{proxy.host}/token",service="x"',
        json.dumps({"token": "\u0101"}).encode(),
    )
    with _client(proxy.host, policy=FAST_RETRIES) as client, pytest.raises(RegistryError):
        client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))
