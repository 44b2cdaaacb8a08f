"""Tests that need a program of the test bed: fail under ``CI=true``, skip on a laptop without it."""

from __future__ import annotations

import os

import pytest

from devtools.testbed import DEBIAN_PACKAGES, missing_programs


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
