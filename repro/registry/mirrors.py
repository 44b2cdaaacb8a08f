"""Registry mirrors, configured like the ``mirror`` entries of containers' registries.conf.

A mirror entry is ``HOST[:PORT][/PREFIX]``; the repository path is appended to the
prefix. With ``mirrors = ["127.0.0.1:5000/hub"]`` for ``docker.io``, the image
``docker.io/library/debian`` is fetched as ``127.0.0.1:5000/hub/library/debian``.
Mirrors are tried in order, the origin registry last::

    [registries."docker.io"]
    mirrors = ["127.0.0.1:5000/hub"]

    [registries."127.0.0.1:5000"]   # the mirror's own settings
    insecure = true

``registry-1.docker.io`` and ``index.docker.io`` are Docker Hub: without mirrors of their
own, the mirrors configured for ``docker.io`` apply to them, as Docker applies its
registry mirrors; the image keeps the name the user wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from repro.config import Config
from repro.errors import ConfigError
from repro.reference import DEFAULT_DOMAIN

__all__ = ["DOCKER_HUB_ALIASES", "Endpoint", "endpoints", "parse_mirror"]

#: Other names of Docker Hub's registry.
DOCKER_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io"})

_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
_PATH = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")


@dataclass(frozen=True)
class Endpoint:
    """Where to fetch one repository from: a registry host and the path there."""

    domain: str
    path: str
    #: The mirror entry as configured, or the origin's domain.
    source: str
    is_mirror: bool = False


def parse_mirror(entry: str) -> tuple[str, str]:
    """Split a mirror entry into ``(host[:port], prefix)``; the prefix may be empty."""
    text = entry.strip().rstrip("/")
    if "://" in text:
        raise ConfigError(
            f"mirror {entry!r}: write HOST[:PORT][/PREFIX] without a scheme",
            hint='mark plain-http mirrors insecure under their own [registries."HOST"] table',
        )
    host, _, prefix = text.partition("/")
    if not _HOST.fullmatch(host):
        raise ConfigError(f"mirror {entry!r}: {host!r} is not a registry host")
    if prefix and not _PATH.fullmatch(prefix):
        raise ConfigError(f"mirror {entry!r}: {prefix!r} is not a repository path prefix")
    return host, prefix


def endpoints(config: Config, domain: str, path: str) -> list[Endpoint]:
    """The places to try for ``domain/path``, in order: each mirror, then the origin."""
    result: list[Endpoint] = []
    mirrors = config.registry(domain).mirrors
    if not mirrors and domain in DOCKER_HUB_ALIASES:
        mirrors = config.registry(DEFAULT_DOMAIN).mirrors
    for entry in mirrors:
        host, prefix = parse_mirror(entry)
        mirrored_path = f"{prefix}/{path}" if prefix else path
        result.append(
            Endpoint(domain=host, path=mirrored_path, source=entry.strip().rstrip("/"), is_mirror=True)
        )
    result.append(Endpoint(domain=domain, path=path, source=domain))
    return result
