"""Pinning image references to digests: ``repro pin``, ``repro pin --check``, ``repro refresh``.

    >>> from repro.pin import pin_paths, check_paths
    >>> check_paths(["."]).exit_code                     # doctest: +SKIP
    1
    >>> with RegistryClient(config) as client:           # doctest: +SKIP
    ...     report = pin_paths(["."], client=client)

Modules: :mod:`~repro.pin.discovery` finds Dockerfiles, :mod:`~repro.pin.scan` parses
them into image references, :mod:`~repro.pin.rewrite` changes only the bytes of an image
token, :mod:`~repro.pin.service` runs the commands, :mod:`~repro.pin.model` holds their
reports and :mod:`~repro.pin.render` prints them.
"""

from __future__ import annotations

from repro.pin.discovery import find_dockerfiles
from repro.pin.model import (
    Action,
    CheckReport,
    FileChange,
    FindingKind,
    PinFinding,
    PinReport,
    PinResult,
    RefreshChange,
    RefreshReport,
    Site,
)
from repro.pin.service import (
    FunctionResolver,
    PlatformDigest,
    Resolution,
    ResolvedLike,
    Resolver,
    check_paths,
    pin_paths,
    refresh_paths,
)

__all__ = [
    "Action",
    "CheckReport",
    "FileChange",
    "FindingKind",
    "FunctionResolver",
    "PinFinding",
    "PinReport",
    "PinResult",
    "PlatformDigest",
    "RefreshChange",
    "RefreshReport",
    "Resolution",
    "ResolvedLike",
    "Resolver",
    "Site",
    "check_paths",
    "find_dockerfiles",
    "pin_paths",
    "refresh_paths",
]
