"""Mirror endpoints, and Docker Hub's other names sharing docker.io's mirrors."""

from __future__ import annotations

from repro.config import Config, RegistryConfig
from repro.registry.mirrors import endpoints


def test_docker_hub_aliases_use_the_docker_io_mirrors() -> None:
    config = Config(registries={"docker.io": RegistryConfig(mirrors=("127.0.0.1:5000/hub",))})
    for domain in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        found = endpoints(config, domain, "library/busybox")
        assert [(e.domain, e.path, e.is_mirror) for e in found] == [
            ("127.0.0.1:5000", "hub/library/busybox", True),
            (domain, "library/busybox", False),
        ]


def test_an_alias_with_mirrors_of_its_own_keeps_them() -> None:
    config = Config(
        registries={
            "docker.io": RegistryConfig(mirrors=("127.0.0.1:5000/hub",)),
            "registry-1.docker.io": RegistryConfig(mirrors=("127.0.0.1:6000",)),
        }
    )
    assert endpoints(config, "registry-1.docker.io", "library/busybox")[0].domain == "127.0.0.1:6000"


def test_other_registries_do_not_borrow_docker_io_mirrors() -> None:
    config = Config(registries={"docker.io": RegistryConfig(mirrors=("127.0.0.1:5000/hub",))})
    assert [e.domain for e in endpoints(config, "ghcr.io", "acme/base")] == ["ghcr.io"]
