"""OCI distribution client: resolve, pull, push and referrers, with auth and mirrors.

>>> from repro.registry import RegistryClient
"""

from __future__ import annotations

from repro.oci.models import AnyManifest, Descriptor, Index, Manifest, parse_manifest
from repro.registry.client import (
    MAX_MANIFEST_SIZE,
    PlatformManifest,
    PushOutcome,
    RegistryClient,
    Resolved,
)
from repro.registry.credentials import Credential, CredentialStore
from repro.registry.transport import RetryPolicy

__all__ = [
    "MAX_MANIFEST_SIZE",
    "AnyManifest",
    "Credential",
    "CredentialStore",
    "Descriptor",
    "Index",
    "Manifest",
    "PlatformManifest",
    "PushOutcome",
    "RegistryClient",
    "Resolved",
    "RetryPolicy",
    "parse_manifest",
]
