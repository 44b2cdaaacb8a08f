"""The test bed works with real clients (requests, skopeo): every later test relies on it."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from devtools.testbed import BaseImages, RegistryFactory, RunningRegistry, TestbedError
from devtools.testbed.images import build_busybox_layouts, skopeo_copy, skopeo_raw_manifest
from devtools.testbed.tokenserver import TokenServer, libtrust_key_id
from repro.process import run
from tests.programs import require_programs


def _token(server: TokenServer, scope: str, auth: tuple[str, str] | None) -> str:
    response = requests.get(
        server.realm, params={"service": server.service, "scope": scope}, auth=auth, timeout=10
    )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


def _tags(registry: RunningRegistry, repository: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(
        f"{registry.url}/v2/{repository}/tags/list", headers=headers, verify=registry.verify, timeout=10
    )


def _layout_digest(layout: Path, tag: str) -> str:
    index = json.loads((layout / "index.json").read_text())
    [entry] = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag]
    digest: str = entry["digest"]
    return digest


# -- the three flavours ----------------------------------------------------------------------


def test_plain_registry_answers_v2(registry: RunningRegistry) -> None:
    response = requests.get(f"{registry.url}/v2/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert registry.url == f"http://{registry.host}"
    assert registry.host.startswith("127.0.0.1:")
    assert registry.auth is None
    assert registry.ca_file is None


def test_tls_registry_needs_its_ca(tls_registry: RunningRegistry) -> None:
    assert tls_registry.url.startswith("https://")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_registry.url}/v2/", timeout=10)


def test_tls_registry_rejects_wrong_password_and_accepts_right_one(tls_registry: RunningRegistry) -> None:
    assert tls_registry.ca_file is not None
    assert tls_registry.username is not None
    url = f"{tls_registry.url}/v2/"
    anonymous = requests.get(url, verify=str(tls_registry.ca_file), timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    wrong = requests.get(
        url, verify=str(tls_registry.ca_file), auth=(tls_registry.username, "wrong"), timeout=10
    )
    assert wrong.status_code == 401
    right = requests.get(url, verify=str(tls_registry.ca_file), auth=tls_registry.auth, timeout=10)
    assert right.status_code == 200
    # localhost is in the certificate too
    localhost = url.replace("127.0.0.1", "localhost")
    assert (
        requests.get(localhost, verify=tls_registry.verify, auth=tls_registry.auth, timeout=10).status_code
        == 200
    )


def test_token_registry_challenges_with_bearer(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    response = _tags(token_registry, "busybox")
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{server.realm}"' in challenge
    assert f'service="{server.service}"' in challenge
    assert 'scope="repository:busybox:pull"' in challenge


def test_token_registry_accepts_token_for_its_scope_only(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    token = _token(server, "repository:scoped/one:pull", token_registry.auth)
    # Authorized, so the registry gets as far as "no such repository".
    allowed = _tags(token_registry, "scoped/one", token)
    assert allowed.status_code == 404
    assert allowed.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    other = _tags(token_registry, "scoped/two", token)
    assert other.status_code == 401
    assert 'error="insufficient_scope"' in other.headers["WWW-Authenticate"]


@pytest.mark.parametrize("key_header", ["kid", "x5c", "x5c+kid"])
def test_token_registry_accepts_either_key_header(token_registry: RunningRegistry, key_header: Any) -> None:
    server = token_registry.token_server
    assert server is not None
    previous = server.key_header
    server.key_header = key_header
    try:
        token = _token(server, "repository:keyform:pull", token_registry.auth)
    finally:
        server.key_header = previous
    header = jwt.get_unverified_header(token)
    assert ("kid" in header) == ("kid" in key_header)
    assert ("x5c" in header) == ("x5c" in key_header)
    assert _tags(token_registry, "keyform", token).status_code == 404


def test_token_registry_rejects_token_from_another_key(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    good = jwt.decode(
        _token(server, "repository:forged:pull", token_registry.auth), options={"verify_signature": False}
    )
    other_key = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        good, other_key, algorithm="ES256", headers={"kid": libtrust_key_id(other_key.public_key())}
    )
    assert _tags(token_registry, "forged", forged).status_code == 401
    # The same claims under the real key's kid, but signed by the other key: also refused.
    forged = jwt.encode(good, other_key, algorithm="ES256", headers={"kid": server.key_id})
    assert _tags(token_registry, "forged", forged).status_code == 401


def test_token_server_grants_only_what_the_table_allows(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    server.add_user("reader-of-team", "pw-team", {"team/*": ["pull"]})
    token = _token(server, "repository:team/app:pull,push", ("reader-of-team", "pw-team"))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    assert claims["aud"] == server.service
    assert claims["iss"] == server.issuer
    assert _tags(token_registry, "team/app", token).status_code == 404
    outside = _token(server, "repository:elsewhere:pull", ("reader-of-team", "pw-team"))
    assert jwt.decode(outside, options={"verify_signature": False})["access"] == []
    assert _tags(token_registry, "elsewhere", outside).status_code == 401
    wrong = requests.get(
        server.realm,
        params={"service": server.service, "scope": "repository:team/app:pull"},
        auth=("reader-of-team", "nope"),
        timeout=10,
    )
    assert wrong.status_code == 401


def test_token_server_oauth2_password_and_refresh_token(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    assert token_registry.username is not None
    assert token_registry.password is not None
    scope = "repository:oauth/flow:pull"
    first = requests.post(
        server.realm,
        data={
            "grant_type": "password",
            "username": token_registry.username,
            "password": token_registry.password,
            "service": server.service,
            "scope": scope,
            "client_id": "repro-tests",
            "access_type": "offline",
        },
        timeout=10,
    )
    assert first.status_code == 200
    body = first.json()
    assert {"access_token", "token", "expires_in", "issued_at", "refresh_token"} <= body.keys()
    assert _tags(token_registry, "oauth/flow", body["access_token"]).status_code == 404

    refreshed = requests.post(
        server.realm,
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "service": server.service,
            "scope": scope,
        },
        timeout=10,
    )
    assert refreshed.status_code == 200
    assert _tags(token_registry, "oauth/flow", refreshed.json()["access_token"]).status_code == 404

    bad = requests.post(
        server.realm,
        data={"grant_type": "refresh_token", "refresh_token": "nope", "scope": scope},
        timeout=10,
    )
    assert bad.status_code == 401
    grants = [r.grant_type for r in server.requests if scope in r.scopes]
    assert grants == ["password", "refresh_token", "refresh_token"]


def test_token_server_counts_requests_per_scope(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    scope = "repository:counted:pull"
    before = server.count()
    for _ in range(3):
        _token(server, scope, token_registry.auth)
    _token(server, "repository:counted-other:pull", token_registry.auth)
    assert server.count(scope) == 3
    assert server.count() == before + 4


# -- registry life cycle ---------------------------------------------------------------------


def test_fresh_registry_survives_kill_and_restart(fresh_registry: RunningRegistry, tmp_path: Path) -> None:
    layout, _ = build_busybox_layouts(tmp_path / "layouts")
    skopeo_copy(f"oci:{layout}:latest", fresh_registry, "survivor:1")
    host, storage = fresh_registry.host, fresh_registry.storage_dir
    fresh_registry.kill()
    assert not fresh_registry.is_running()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{fresh_registry.url}/v2/", timeout=2)
    fresh_registry.restart()
    assert (fresh_registry.host, fresh_registry.storage_dir) == (host, storage)
    manifest = skopeo_raw_manifest(fresh_registry, "survivor:1")
    assert f"sha256:{hashlib.sha256(manifest).hexdigest()}" == _layout_digest(layout, "latest")
    fresh_registry.stop()
    fresh_registry.stop()  # idempotent
    assert not fresh_registry.is_running()


def test_registry_allows_deletes(fresh_registry: RunningRegistry, tmp_path: Path) -> None:
    layout, _ = build_busybox_layouts(tmp_path / "layouts")
    skopeo_copy(f"oci:{layout}:latest", fresh_registry, "doomed:1")
    digest = _layout_digest(layout, "latest")
    url = f"{fresh_registry.url}/v2/doomed/manifests/{digest}"
    assert requests.delete(url, timeout=10).status_code == 202
    assert requests.get(url, timeout=10).status_code == 404


def test_start_up_failure_reports_the_log(registry_factory: RegistryFactory) -> None:
    running = registry_factory("tls")
    assert running.ca_file is not None
    running.stop()
    (running.workdir / "tls" / "server.key").unlink()
    with pytest.raises(TestbedError, match=r"(?s)exited with code .*server\.key"):
        running.start()


def test_registry_factory_starts_each_flavour(registry_factory: RegistryFactory) -> None:
    plain, tls, token = registry_factory("plain"), registry_factory("tls"), registry_factory("token")
    assert len({plain.host, tls.host, token.host}) == 3
    assert requests.get(f"{plain.url}/v2/", timeout=10).status_code == 200
    assert requests.get(f"{tls.url}/v2/", verify=tls.verify, auth=tls.auth, timeout=10).status_code == 200
    assert requests.get(f"{token.url}/v2/", timeout=10).status_code == 401


# -- base images ------------------------------------------------------------------------------


def _skopeo_inspect(registry: RunningRegistry, reference: str, *extra: str) -> Any:
    argv = ["skopeo", "--insecure-policy", "inspect", *extra, *registry.skopeo_args()]
    return json.loads(run([*argv, f"docker://{registry.host}/{reference}"]).stdout)


def test_busybox_layouts_are_deterministic(tmp_path: Path) -> None:
    require_programs("busybox")
    first = build_busybox_layouts(tmp_path / "a")
    second = build_busybox_layouts(tmp_path / "b")
    for one, two in zip(first, second, strict=True):
        assert (one / "index.json").read_bytes() == (two / "index.json").read_bytes()


def test_skopeo_sees_the_digests_base_images_reports(
    registry: RunningRegistry, base_images: BaseImages
) -> None:
    assert base_images.host == registry.host
    assert base_images.debian is not None
    for image in base_images.all():
        raw = skopeo_raw_manifest(registry, f"{image.repository}:{image.tag}")
        assert image.digest == f"sha256:{hashlib.sha256(raw).hexdigest()}"
        # skopeo pushed the layout's manifest unchanged.
        assert image.digest == _layout_digest(image.layout, image.tag)
        by_digest = skopeo_raw_manifest(registry, f"{image.repository}@{image.digest}")
        assert by_digest == image.manifest
    inspected = _skopeo_inspect(registry, base_images.busybox.reference.split("/", 1)[1])
    assert inspected["Digest"] == base_images.busybox.digest
    assert inspected["Os"] == "linux"
    assert base_images.busybox_1_36.digest == base_images.busybox.digest


def test_busybox_config(registry: RunningRegistry, base_images: BaseImages) -> None:
    config = _skopeo_inspect(registry, "busybox:1.36", "--config")
    assert config["config"]["Cmd"] == ["sh"]
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert len(config["rootfs"]["diff_ids"]) == 1


def test_multi_is_an_index_of_two_platforms(registry: RunningRegistry, base_images: BaseImages) -> None:
    index = base_images.multi.manifest_json()
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    platforms = {
        "/".join(
            filter(None, [m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant")])
        )
        for m in index["manifests"]
    }
    assert platforms == {"linux/amd64", "linux/arm64/v8"}
    assert base_images.multi_manifests["linux/amd64"] == base_images.busybox.digest
    for name, digest in base_images.multi_manifests.items():
        config = _skopeo_inspect(registry, f"multi@{digest}", "--config")
        assert config["architecture"] == name.split("/")[1]
    arm = skopeo_raw_manifest(registry, f"multi@{base_images.multi_manifests['linux/arm64/v8']}")
    amd = base_images.busybox.manifest_json()
    assert json.loads(arm)["layers"] == amd["layers"]


def test_debian_image_is_bookworm(registry: RunningRegistry, base_images: BaseImages) -> None:
    assert base_images.debian is not None
    [layer] = base_images.debian.manifest_json()["layers"]
    response = requests.get(f"{registry.url}/v2/debian/blobs/{layer['digest']}", stream=True, timeout=60)
    response.raise_for_status()
    found: dict[str, str | bytes] = {}
    with tarfile.open(fileobj=response.raw, mode="r|gz") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if name == "etc/os-release":
                found[name] = member.linkname if member.issym() else b""
            if name == "usr/lib/os-release":
                extracted = tar.extractfile(member)
                assert extracted is not None
                found[name] = extracted.read()
    os_release = found["usr/lib/os-release"]
    assert isinstance(os_release, bytes)
    assert b"VERSION_CODENAME=bookworm" in os_release
    assert found["etc/os-release"] == "../usr/lib/os-release"
    assert base_images.debian_rootfs is not None
    assert base_images.debian_rootfs.is_file()


def test_base_images_push_through_tls_and_basic_auth(
    tls_registry: RunningRegistry, tls_base_images: BaseImages, base_images: BaseImages
) -> None:
    assert tls_base_images.host == tls_registry.host
    assert tls_base_images.busybox.digest == base_images.busybox.digest
    assert tls_base_images.multi.digest == base_images.multi.digest
    assert tls_base_images.debian is not None
    assert base_images.debian is not None
    assert tls_base_images.debian.digest == base_images.debian.digest


def test_base_images_push_through_token_auth(
    token_registry: RunningRegistry, token_base_images: BaseImages
) -> None:
    server = token_registry.token_server
    assert server is not None
    assert token_base_images.host == token_registry.host
    token = _token(server, "repository:busybox:pull", token_registry.auth)
    tags = _tags(token_registry, "busybox", token)
    assert tags.status_code == 200
    assert sorted(tags.json()["tags"]) == ["1.36", "latest"]
    assert server.count("repository:busybox:pull,push") >= 1
