"""The pure parts of the transport: retry policy, Retry-After, URL building and redaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from repro.config import Config, RegistryConfig
from repro.errors import ConfigError, RegistryError
from repro.registry.mirrors import endpoints, parse_mirror
from repro.registry.transport import (
    RetryPolicy,
    Transport,
    _DeadlineAdapter,
    _HTTPPool,
    _HTTPSPool,
    api_host,
    parse_retry_after,
    redact_url,
    registry_url,
    with_query,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 120 ", 120.0),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 416])
def test_client_errors_are_never_retried(status: int) -> None:
    assert RetryPolicy().delay(1, status=status, retry_after="1", elapsed=0.0) is None


@pytest.mark.parametrize("status", [None, 429, 500, 502, 503, 504])
def test_transient_failures_are_retried_with_backoff(status: int | None) -> None:
    policy = RetryPolicy(attempts=4, backoff=0.25, max_backoff=4.0)
    delays = [policy.delay(n, status=status, retry_after=None, elapsed=0.0) for n in (1, 2, 3, 4)]
    assert delays == [0.25, 0.5, 1.0, None]


def test_retry_after_is_honoured_but_capped() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    assert policy.delay(1, status=429, retry_after="3", elapsed=0.0) == 3.0
    assert policy.delay(1, status=503, retry_after="3600", elapsed=0.0) == 10.0
    assert (
        policy.delay(1, status=429, retry_after="Thu, 01 Jan 2026 12:00:05 GMT", elapsed=0.0, now=NOW) == 5.0
    )
    # A Retry-After on a connection error cannot exist; on a 404 it does not matter.
    assert policy.delay(1, status=404, retry_after="1", elapsed=0.0) is None


def test_total_time_bound() -> None:
    policy = RetryPolicy(total=30.0, max_retry_after=10.0)
    assert policy.delay(1, status=429, retry_after="10", elapsed=19.0) == 10.0
    assert policy.delay(1, status=429, retry_after="10", elapsed=21.0) is None


def test_dead_host_budget_is_a_few_seconds() -> None:
    policy = RetryPolicy()
    total = sum(
        policy.delay(n, status=None, retry_after=None, elapsed=0.0) or 0.0
        for n in range(1, policy.attempts + 1)
    )
    assert total < 2.0


def test_api_host_and_urls() -> None:
    assert api_host("docker.io") == "registry-1.docker.io"
    assert api_host("127.0.0.1:5000") == "127.0.0.1:5000"
    assert registry_url("docker.io", "/v2/library/debian/manifests/12", insecure=False) == (
        "https://registry-1.docker.io/v2/library/debian/manifests/12"
    )
    assert registry_url(
        "127.0.0.1:5000", "/v2/a/blobs/uploads/", insecure=True, query={"mount": "sha256:ab", "from": "b/c"}
    ) == ("http://127.0.0.1:5000/v2/a/blobs/uploads/?mount=sha256%3Aab&from=b%2Fc")
    assert with_query("http://h/v2/a/blobs/uploads/x?_state=s", {"digest": "sha256:1"}) == (
        "http://h/v2/a/blobs/uploads/x?_state=s&digest=sha256%3A1"
    )


def test_redact_url_hides_secrets() -> None:
    url = "https://user:pw@storage.example/blob?X-Amz-Signature=s3cr3t&digest=sha256:ab&_state=xyz"
    redacted = redact_url(url)
    assert "s3cr3t" not in redacted
    assert "pw" not in redacted
    assert "xyz" not in redacted
    assert redacted.startswith("https://storage.example/blob?")
    assert "digest=sha256%3Aab" in redacted


def test_plain_http_needs_insecure() -> None:
    config = Config(registries={"127.0.0.1:5000": RegistryConfig(insecure=True)})
    transport = Transport(config)
    transport._check_scheme("127.0.0.1:5000", "http://127.0.0.1:5000/v2/")
    # A token server on another port of the same insecure host.
    transport._check_scheme("127.0.0.1:5000", "http://127.0.0.1:6000/token")
    transport._check_scheme("example.com", "https://example.com/v2/")
    with pytest.raises(RegistryError, match="plain http"):
        transport._check_scheme("example.com", "http://example.com/v2/")
    with pytest.raises(RegistryError, match="plain http"):
        transport._check_scheme("127.0.0.1:5000", "http://storage.example/blob")
    with pytest.raises(RegistryError, match="scheme"):
        transport._check_scheme("example.com", "file:///etc/passwd")
    assert transport.url("127.0.0.1:5000", "/v2/") == "http://127.0.0.1:5000/v2/"
    assert transport.url("docker.io", "/v2/") == "https://registry-1.docker.io/v2/"


def test_mirror_entries() -> None:
    assert parse_mirror("127.0.0.1:5000/hub") == ("127.0.0.1:5000", "hub")
    assert parse_mirror("mirror.example") == ("mirror.example", "")
    assert parse_mirror("mirror.example/a/b/") == ("mirror.example", "a/b")
    for bad in ("https://mirror.example", "bad host/x", "h/UPPER"):
        with pytest.raises(ConfigError):
            parse_mirror(bad)
    config = Config(registries={"docker.io": RegistryConfig(mirrors=("127.0.0.1:5000/hub", "m.example"))})
    assert [(e.domain, e.path, e.is_mirror) for e in endpoints(config, "docker.io", "library/debian")] == [
        ("127.0.0.1:5000", "hub/library/debian", True),
        ("m.example", "library/debian", True),
        ("docker.io", "library/debian", False),
    ]


def test_mount_source_and_fallback_tag() -> None:
    from repro.digest import Digest
    from repro.registry.client import _fallback_tag, _mount_path

    assert _mount_path(None, "127.0.0.1:5000") is None
    assert _mount_path("team/base", "127.0.0.1:5000") == "team/base"
    assert _mount_path("127.0.0.1:5000/team/base", "127.0.0.1:5000") == "team/base"
    assert _mount_path("other.example/team/base", "127.0.0.1:5000") is None
    digest = Digest.of(b"")
    assert _fallback_tag(digest) == "sha256-" + digest.hex


def test_stream_body_rewinds_for_a_retry_and_hashes_what_it_sent() -> None:
    import io

    from repro.digest import Digest
    from repro.registry.transport import StreamBody

    source = io.BytesIO(b"header" + b"x" * 100_000 + b"trailer")
    source.seek(6)  # the body starts where the source stands
    body = StreamBody(source, 100_000)
    assert len(body) == 100_000
    body.read(4096)  # a first attempt breaks off ...
    body.rewind()  # ... and the retry starts again from the start
    sent = b"".join(iter(lambda: body.read(8192), b""))
    assert sent == b"x" * 100_000
    assert body.sent == 100_000
    assert body.digest() == Digest.of(b"x" * 100_000)


def test_a_socks_proxy_is_refused_rather_than_used_without_the_deadline() -> None:
    with pytest.raises(ConfigError, match="SOCKS proxies are not supported") as raised:
        _DeadlineAdapter().proxy_manager_for("socks5://user:secret@proxy.example:1080")
    assert "secret" not in str(raised.value)


def test_http_proxy_pools_obey_the_deadline() -> None:
    manager = _DeadlineAdapter().proxy_manager_for("http://proxy.example:3128")
    assert manager.pool_classes_by_scheme == {"http": _HTTPPool, "https": _HTTPSPool}
