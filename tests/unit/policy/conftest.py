"""Shared fixtures: the default policies are compiled once per test session."""

from __future__ import annotations

import pytest

from repro.config import PolicyConfig
from repro.policy import PolicySet, load_policies


@pytest.fixture(scope="session")
def policies() -> PolicySet:
    return load_policies(PolicyConfig())
