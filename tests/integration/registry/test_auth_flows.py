"""Authentication against real registries: TLS + htpasswd Basic, and the Bearer token flow."""

from __future__ import annotations

import base64
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
from repro.errors import AuthenticationError, RegistryUnreachableError
from repro.oci import media
from repro.reference import parse_reference
from repro.registry import RegistryClient

CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


def _docker_config(directory: Path, host: str, entry: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"auths": {host: entry}}))
    return directory


def _login(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, registry: RunningRegistry, password: str | None = None
) -> None:
    assert registry.username is not None
    secret = password if password is not None else registry.password
    auth = base64.b64encode(f"{registry.username}:{secret}".encode()).decode()
    monkeypatch.setenv(
        "DOCKER_CONFIG", str(_docker_config(tmp_path / "docker", registry.host, {"auth": auth}))
    )


def _push_image(client: RegistryClient, host: str, path: str, tag: str) -> Digest:
    """Push a tiny one-layer image; return its manifest digest."""
    layer = os.urandom(1024)
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
    return client.push_manifest(host, path, tag, manifest, media.OCI_MANIFEST)


def _assert_secret_free(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text


# -- TLS + Basic --------------------------------------------------------------------------


@pytest.fixture
def tls_config(tls_registry: RunningRegistry) -> Config:
    return Config(registries={tls_registry.host: RegistryConfig(ca_file=tls_registry.ca_file)}, timeout=10.0)


def test_tls_basic_auth_push_and_resolve(
    tls_registry: RunningRegistry,
    tls_config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _login(monkeypatch, tmp_path, tls_registry)
    host = tls_registry.host
    with RegistryClient(tls_config) as client:
        digest = _push_image(client, host, "auth/basic", "v1")
        resolved = client.resolve(parse_reference(f"{host}/auth/basic:v1"))
        assert resolved.digest == digest
        assert resolved.source == host
    assert tls_registry.password is not None
    basic = base64.b64encode(f"{tls_registry.username}:{tls_registry.password}".encode()).decode()
    _assert_secret_free([tls_registry.password, basic], caplog.text, repr(client))


def test_tls_without_credentials_is_denied(tls_registry: RunningRegistry, tls_config: Config) -> None:
    with (
        RegistryClient(tls_config) as client,
        pytest.raises(AuthenticationError, match="username and password"),
    ):
        client.resolve(parse_reference(f"{tls_registry.host}/auth/basic:v1"))


def test_tls_wrong_password_is_denied_without_leaking(
    tls_registry: RunningRegistry,
    tls_config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-password-0xdeadbeef"
    _login(monkeypatch, tmp_path, tls_registry, password=wrong)
    with RegistryClient(tls_config) as client, pytest.raises(AuthenticationError) as info:
        client.resolve(parse_reference(f"{tls_registry.host}/auth/basic:v1"))
    _assert_secret_free([wrong], caplog.text, str(info.value), repr(info.value), info.value.hint)


def test_tls_without_ca_file_fails_verification(tls_registry: RunningRegistry) -> None:
    with (
        RegistryClient(Config(timeout=5.0)) as client,
        pytest.raises(RegistryUnreachableError, match="certificate"),
    ):
        client.resolve(parse_reference(f"{tls_registry.host}/auth/basic:v1"))


# -- Bearer tokens ------------------------------------------------------------------------


@pytest.fixture
def token_config(token_registry: RunningRegistry) -> Config:
    return Config(registries={token_registry.host: RegistryConfig(insecure=True)}, timeout=10.0)


@pytest.fixture
def token_client(
    token_registry: RunningRegistry, token_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RegistryClient]:
    _login(monkeypatch, tmp_path, token_registry)
    with RegistryClient(token_config) as client:
        yield client


def test_anonymous_is_denied(token_registry: RunningRegistry, token_config: Config) -> None:
    with RegistryClient(token_config) as client, pytest.raises(AuthenticationError):
        client.resolve(parse_reference(f"{token_registry.host}/tok/anon:v1"))


def test_token_flow_push_scope_and_cache(
    token_registry: RunningRegistry, token_client: RegistryClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = token_registry.token_server
    assert server is not None
    host = token_registry.host
    server.reset_counts()
    digest = _push_image(token_client, host, "tok/cache", "v1")
    push_scope = "repository:tok/cache:pull,push"
    assert server.count(push_scope) == 1, server.requests
    pull_scope = "repository:tok/cache:pull"
    for _ in range(5):
        assert token_client.resolve(parse_reference(f"{host}/tok/cache:v1")).digest == digest
        token_client.get_manifest(parse_reference(f"{host}/tok/cache@{digest}"))
    assert server.count(pull_scope) == 1, server.requests
    assert server.count() == 2
    tokens = [t.value for t in token_client._auth._tokens.values()]
    assert tokens
    assert token_registry.password is not None
    _assert_secret_free([token_registry.password, *tokens], caplog.text, repr(token_client))


def test_used_token_widened_from_challenge(
    token_registry: RunningRegistry, token_client: RegistryClient
) -> None:
    server = token_registry.token_server
    assert server is not None
    host = token_registry.host
    path = "tok/widen"
    # A pull-only token is cached; then an upload is attempted with it.
    assert not token_client.blob_exists(host, path, Digest.of(b"x"))
    server.reset_counts()
    url = token_client._url(host, f"/v2/{path}/blobs/uploads/")
    with token_client._call(host, "POST", url, ("repository:tok/widen:pull",)) as response:
        assert response.status_code == 202
    [request] = server.requests
    assert request.scopes == ("repository:tok/widen:pull,push",)


def test_identity_token_uses_refresh_grant(
    token_registry: RunningRegistry, token_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = token_registry.token_server
    assert server is not None
    assert token_registry.username is not None
    refresh = server.issue_refresh_token(token_registry.username)
    entry = {"username": token_registry.username, "identitytoken": refresh}
    monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(tmp_path / "docker", token_registry.host, entry)))
    server.reset_counts()
    with RegistryClient(token_config) as client:
        _push_image(client, token_registry.host, "tok/refresh", "v1")
    assert {r.grant_type for r in server.requests} == {"refresh_token"}


def test_bad_refresh_token_is_denied(
    token_registry: RunningRegistry, token_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bogus = "not-a-valid-refresh-token-123"
    monkeypatch.setenv(
        "DOCKER_CONFIG",
        str(_docker_config(tmp_path / "docker", token_registry.host, {"identitytoken": bogus})),
    )
    with RegistryClient(token_config) as client, pytest.raises(AuthenticationError) as info:
        client.resolve(parse_reference(f"{token_registry.host}/tok/refresh:v1"))
    _assert_secret_free([bogus], str(info.value))
