"""Connection failures are told apart by kind, each with its own fix."""

from __future__ import annotations

import socket

import pytest
import requests
import urllib3.exceptions

from repro.registry.hints import KINDS, connection_failure_kind, unreachable_hint


def wrapped(reason: Exception) -> requests.ConnectionError:
    """A connection error as requests raises it: urllib3's MaxRetryError around the reason."""
    inner = urllib3.exceptions.MaxRetryError(None, "/v2/", reason)  # type: ignore[arg-type]
    return requests.ConnectionError(inner)


DNS_FAILURE = urllib3.exceptions.NameResolutionError(
    "h",
    None,  # type: ignore[arg-type]  # the connection object is only used for its message
    socket.gaierror(-2, "Name or service not known"),
)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (wrapped(DNS_FAILURE), "dns"),
        (wrapped(OSError("[Errno -3] Temporary failure in name resolution")), "dns"),
        (wrapped(ConnectionRefusedError("[Errno 111] Connection refused")), "refused"),
        (requests.exceptions.ConnectTimeout("timed out"), "timeout"),
        (
            requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            "tls-untrusted",
        ),
        (requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls-plain-http"),
        (requests.exceptions.SSLError("handshake failure"), "tls"),
        (wrapped(OSError("[Errno 101] Network is unreachable")), "network"),
        (requests.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))"), "closed"),
        (requests.ConnectionError("something else"), "other"),
    ],
)
def test_kinds(exc: Exception, kind: str) -> None:
    assert connection_failure_kind(exc) == kind
    assert kind in KINDS


def test_each_hint_names_the_registry_and_its_fix() -> None:
    assert "insecure = true" in unreachable_hint("tls-plain-http", "r.example:5000")
    assert 'ca_file = "ca.pem" under [registries."r.example:5000"]' in unreachable_hint(
        "tls-untrusted", "r.example:5000"
    )
    assert "waited 7 s" in unreachable_hint("timeout", "r.example", timeout=7.0)
    for kind in ("dns", "refused", "timeout", "network", "other"):
        hint = unreachable_hint(kind, "docker.io")
        assert '[registries."docker.io"] mirrors = ["MIRROR-HOST/PREFIX"]' in hint, kind
        assert "REPRO_REGISTRY_MIRRORS=docker.io=" in hint, kind
    # a DNS failure is not a plain-http problem (the old hint said "mark it insecure")
    assert "insecure" not in unreachable_hint("dns", "docker.io")
