"""The ecosystem corpus runs on the Debian base image with apt-cacher-ng in front of the
Debian mirror (see :mod:`devtools.testbed.aptcache`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testbed.aptcache import PROGRAM, RunningAptCache, start_apt_cache
from tests.programs import require_programs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.ecosystem)


@pytest.fixture(scope="session")
def apt_cache() -> Iterator[RunningAptCache]:
    """A caching proxy for the Debian mirror, shared by the session (its cache persists)."""
    require_programs(PROGRAM)
    with start_apt_cache() as running:
        yield running
