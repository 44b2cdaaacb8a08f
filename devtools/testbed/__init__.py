"""The real-registry test bed: Distribution registries, a token server and base images.

Integration tests reach it through the fixtures in ``tests/integration/conftest.py``;
scripts (demo, benchmarks) through ``python -m devtools.testbed serve``.
"""

from __future__ import annotations

import shutil

from devtools.testbed.images import BUSYBOX_BINARY, BaseImages, PushedImage, push_base_images
from devtools.testbed.registry import (
    FLAVOURS,
    Flavour,
    RegistryFactory,
    RunningRegistry,
    TestbedError,
    start_plain_registry,
    start_registry,
    start_tls_registry,
    start_token_registry,
)
from devtools.testbed.tokenserver import TokenRequest, TokenServer

# Programs each part of the test bed runs, and the Debian package of each.
REGISTRY_PROGRAMS = ("docker-registry",)
TLS_PROGRAMS = ("docker-registry", "htpasswd")
IMAGE_PROGRAMS = ("skopeo", "mmdebstrap", "busybox")
DEBIAN_PACKAGES = {
    "docker-registry": "docker-registry",
    "htpasswd": "apache2-utils",
    "skopeo": "skopeo",
    "mmdebstrap": "mmdebstrap",
    "busybox": "busybox-static",
    "umoci": "umoci",
    "buildah": "buildah",
    "apt-cacher-ng": "apt-cacher-ng",
}


def missing_programs(*programs: str) -> list[str]:
    """Those of ``programs`` that are not on PATH (busybox: not at /bin/busybox)."""
    missing = []
    for program in programs:
        found = BUSYBOX_BINARY.is_file() if program == "busybox" else shutil.which(program) is not None
        if not found:
            missing.append(program)
    return missing


__all__ = [
    "DEBIAN_PACKAGES",
    "FLAVOURS",
    "IMAGE_PROGRAMS",
    "REGISTRY_PROGRAMS",
    "TLS_PROGRAMS",
    "BaseImages",
    "Flavour",
    "PushedImage",
    "RegistryFactory",
    "RunningRegistry",
    "TestbedError",
    "TokenRequest",
    "TokenServer",
    "missing_programs",
    "push_base_images",
    "start_plain_registry",
    "start_registry",
    "start_tls_registry",
    "start_token_registry",
]
