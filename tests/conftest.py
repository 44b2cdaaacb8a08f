"""Suite-wide pytest configuration: markers by directory, and an isolated HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: a loaded 2-core CI machine makes timings meaningless, and
# hypothesis reports slow examples as failures. In CI the examples are derived from the
# test itself, so a run is repeatable; on a laptop they vary, to find new cases.
settings.register_profile("repro", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "repro")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/unit/" in item.nodeid or item.nodeid.startswith("unit/"):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real ~/.docker, ~/.cache or REPRO_* settings."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    monkeypatch.setenv("NO_COLOR", "1")
    for name in [n for n in os.environ if n.startswith("REPRO_")]:
        monkeypatch.delenv(name)


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
