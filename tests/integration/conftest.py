"""Fixtures that run real registries and push real base images (see devtools/testbed/).

Session-scoped (started once per test session, or once per xdist worker):

- ``registry``: plain http, no auth;
- ``tls_registry``: https (``ca_file``/``cert_dir``) with htpasswd basic auth
  (``username``/``password``);
- ``token_registry``: Docker token auth; ``token_registry.token_server`` is the
  :class:`~devtools.testbed.tokenserver.TokenServer`;
- ``base_images``: busybox, debian and multi pushed into ``registry``;
  ``tls_base_images`` and ``token_base_images`` the same for the other two.

Function-scoped: ``fresh_registry`` (a plain registry of the test's own, for tests that
stop, kill, restart or fill it) and ``registry_factory`` (start any flavour; all are
stopped after the test).

A test that uses one of these is marked ``registry`` (and ``images`` for the base
images). A missing program fails the test when ``CI=true`` and skips it otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testbed import (
    IMAGE_PROGRAMS,
    REGISTRY_PROGRAMS,
    TLS_PROGRAMS,
    BaseImages,
    Flavour,
    RegistryFactory,
    RunningRegistry,
    push_base_images,
    start_plain_registry,
    start_registry,
    start_tls_registry,
    start_token_registry,
)
from tests.programs import require_programs

REGISTRY_FIXTURES = frozenset(
    {
        "registry",
        "tls_registry",
        "token_registry",
        "fresh_registry",
        "registry_factory",
        "base_images",
        "tls_base_images",
        "token_base_images",
    }
)
IMAGE_FIXTURES = frozenset({"base_images", "tls_base_images", "token_base_images"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & REGISTRY_FIXTURES:
            item.add_marker(pytest.mark.registry)
        if names & IMAGE_FIXTURES:
            item.add_marker(pytest.mark.images)


@pytest.fixture(scope="session")
def testbed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session temporary directory for registries, logs and image layouts."""
    return tmp_path_factory.mktemp("testbed")


@pytest.fixture(scope="session")
def registry(testbed_dir: Path) -> Iterator[RunningRegistry]:
    """A plain-http registry without authentication, shared by the session."""
    require_programs(*REGISTRY_PROGRAMS)
    with start_plain_registry(testbed_dir / "registry-plain") as running:
        yield running


@pytest.fixture(scope="session")
def tls_registry(testbed_dir: Path) -> Iterator[RunningRegistry]:
    """An https registry (test CA in ``ca_file``) with basic auth (``username``/``password``)."""
    require_programs(*TLS_PROGRAMS)
    with start_tls_registry(testbed_dir / "registry-tls") as running:
        yield running


@pytest.fixture(scope="session")
def token_registry(testbed_dir: Path) -> Iterator[RunningRegistry]:
    """A plain-http registry with token auth served by ``token_server``."""
    require_programs(*REGISTRY_PROGRAMS)
    with start_token_registry(testbed_dir / "registry-token") as running:
        yield running


def _push(registry: RunningRegistry, testbed_dir: Path) -> BaseImages:
    require_programs(*IMAGE_PROGRAMS)
    return push_base_images(registry, workdir=testbed_dir / "images")


@pytest.fixture(scope="session")
def base_images(registry: RunningRegistry, testbed_dir: Path) -> BaseImages:
    """busybox:latest, busybox:1.36, debian:bookworm and multi:latest in ``registry``."""
    return _push(registry, testbed_dir)


@pytest.fixture(scope="session")
def tls_base_images(tls_registry: RunningRegistry, testbed_dir: Path) -> BaseImages:
    """The base images in ``tls_registry``."""
    return _push(tls_registry, testbed_dir)


@pytest.fixture(scope="session")
def token_base_images(token_registry: RunningRegistry, testbed_dir: Path) -> BaseImages:
    """The base images in ``token_registry``."""
    return _push(token_registry, testbed_dir)


@pytest.fixture
def fresh_registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    """A plain registry of this test's own: empty, and free to stop, kill or restart."""
    require_programs(*REGISTRY_PROGRAMS)
    with start_plain_registry(tmp_path / "registry") as running:
        yield running


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[RegistryFactory]:
    """``registry_factory("plain" | "tls" | "token")`` starts a registry for this test only."""
    started: list[RunningRegistry] = []

    def start(flavour: Flavour = "plain") -> RunningRegistry:
        require_programs(*(TLS_PROGRAMS if flavour == "tls" else REGISTRY_PROGRAMS))
        running = start_registry(tmp_path / f"registry-{flavour}-{len(started)}", flavour)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()
