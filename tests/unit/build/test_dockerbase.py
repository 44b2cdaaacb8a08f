"""The docker engine's routing through repro's mirrors, the parts that need no registry
(the registry parts: tests/integration/test_docker_engine.py)."""

from __future__ import annotations

import pytest

from repro.build.dockerbase import registry_config, route_images
from repro.build.engine import RegistrySettings
from repro.build.runenv import declare_args
from repro.errors import UsageError

PIN = "sha256:" + "ab" * 32
REGISTRIES = (
    RegistrySettings("origin.test", mirrors=("mirror.test/hub",)),
    RegistrySettings("mirror.test", insecure=True),
)


def test_images_without_mirrors_are_left_to_the_daemon() -> None:
    dockerfile = f"FROM other.test/busybox@{PIN}\nRUN true\n".encode()
    assert route_images(
        dockerfile, filename="Dockerfile", build_args={}, config=registry_config(REGISTRIES)
    ) == (
        dockerfile,
        {},
    )


def test_an_unpinned_image_with_mirrors_is_refused_with_its_line() -> None:
    # The engine gets repro's copy with a declaration after every FROM: the line is the user's.
    user = b"FROM scratch AS empty\nFROM origin.test/busybox:latest\nRUN true\n"
    declared = declare_args(user, ["SOURCE_DATE_EPOCH"])
    with pytest.raises(UsageError, match=r"origin\.test/busybox:latest \(line 2 of the Dockerfile\).*pinned"):
        route_images(declared, filename="Dockerfile.repro", build_args={}, config=registry_config(REGISTRIES))
