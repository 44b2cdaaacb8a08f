"""What went wrong when a registry could not be reached, in words, and what to do about it.

A failed connection is one of a few kinds — no DNS answer, connection refused, no answer in
time, a TLS certificate nobody trusts, TLS spoken to a plain-http server — and each has
its own fix. The hint names the configuration that fixes it, with the registry's own host
in it, and always the mirror setting for when the registry is simply out of reach.

    >>> connection_failure_kind(OSError("[Errno -2] Name or service not known"))
    'dns'
    >>> unreachable_hint("dns", "docker.io").startswith("the name does not resolve")
    True
"""

from __future__ import annotations

from typing import Final

__all__ = ["KINDS", "connection_failure_kind", "unreachable_hint"]

#: kind -> what happened, for messages.
KINDS: Final = {
    "dns": "no DNS answer for the host name",
    "refused": "connection refused (nothing listens on that host and port)",
    "timeout": "no answer in time",
    "tls-untrusted": "TLS certificate not trusted",
    "tls-plain-http": "TLS handshake failed: the server seems to speak plain http",
    "tls": "TLS handshake failed",
    "closed": "connection closed by the server",
    "network": "network unreachable",
    "other": "connection failed",
}

_DNS_TEXT = (
    "Name or service not known",
    "Temporary failure in name resolution",
    "nodename nor servname",
    "No address associated with hostname",
    "NameResolutionError",
    "Failed to resolve",
    "getaddrinfo failed",
)


def connection_failure_kind(exc: BaseException) -> str:
    """One of :data:`KINDS` for an exception raised while connecting (requests, urllib3, OS)."""
    text = f"{type(exc).__name__}: {exc}"
    if any(marker in text for marker in _DNS_TEXT):
        return "dns"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "tls-untrusted"
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text or "record layer failure" in text:
        return "tls-plain-http"
    if "SSLError" in text or "SSL" in type(exc).__name__:
        return "tls"
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return "refused"
    if "Network is unreachable" in text or "No route to host" in text:
        return "network"
    if "Timeout" in type(exc).__name__ or "timed out" in text:
        return "timeout"
    if "RemoteDisconnected" in text or "Connection aborted" in text or "Connection reset" in text:
        return "closed"
    return "other"


def _mirror(domain: str) -> str:
    return (
        f'to use a mirror instead: [registries."{domain}"] mirrors = ["MIRROR-HOST/PREFIX"] in repro.toml '
        f"(or REPRO_REGISTRY_MIRRORS={domain}=MIRROR-HOST/PREFIX)"
    )


def unreachable_hint(kind: str, domain: str, *, timeout: float | None = None) -> str:
    """What to do about a failure of ``kind`` reaching ``domain``."""
    here = f'[registries."{domain}"]'
    if kind == "dns":
        return f"the name does not resolve: check its spelling and this machine's DNS; {_mirror(domain)}"
    if kind == "refused":
        return (
            f"check the port (and that the registry is running); if it speaks plain http on another "
            f"port, set insecure = true under {here}; {_mirror(domain)}"
        )
    if kind == "timeout":
        waited = f" (waited {timeout:g} s)" if timeout else ""
        return (
            f"check the network, a firewall or the proxy (HTTPS_PROXY){waited}; raise timeout = SECONDS "
            f"in the configuration or REPRO_TIMEOUT; {_mirror(domain)}"
        )
    if kind == "tls-untrusted":
        return (
            f'give the CA that signed its certificate: ca_file = "ca.pem" under {here} '
            f"(a path relative to the configuration file)"
        )
    if kind == "tls-plain-http":
        return f"if the registry really speaks only plain http, set insecure = true under {here}"
    if kind == "tls":
        return f'check the registry\'s TLS set-up; ca_file = "ca.pem" under {here} for a private CA'
    if kind == "network":
        return f"this machine has no route to it (offline?); {_mirror(domain)}"
    return f"check the registry address and the network; {_mirror(domain)}"
