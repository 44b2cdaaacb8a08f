"""The real-registry test bed: Distribution registries, a token server and base images.

Integration tests reach it through the fixtures in ``tests/integration/conftest.py``;
scripts (demo, benchmarks) through ``python -m tests.testbed serve``.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.testbed.images import BUSYBOX_BINARY, BaseImages, PushedImage, push_base_images
from tests.testbed.registry import (
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
from tests.testbed.tokenserver import TokenRequest, TokenServer

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
}


def missing_programs(*programs: str) -> list[str]:
    """Those of ``programs`` that are not on PATH (busybox: not at /bin/busybox)."""
    missing = []
    for program in programs:
        found = BUSYBOX_BINARY.is_file() if program == "busybox" else shutil.which(program) is not None
        if not found:
            missing.append(program)
    return missing


def require_programs(*programs: str) -> None:
    """Fail the test when ``CI=true``, else skip it, unless every program is installed."""
    missing = missing_programs(*programs)
    if not missing:
        return
    packages = " ".join(DEBIAN_PACKAGES.get(program, program) for program in missing)
    reason = f"the test bed needs {', '.join(missing)} (Debian: apt-get install {packages})"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


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
    "require_programs",
    "start_plain_registry",
    "start_registry",
    "start_tls_registry",
    "start_token_registry",
]
