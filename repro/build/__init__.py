"""Reproducible builds: a backend interface, the buildah backend, SOURCE_DATE_EPOCH, and
the pipeline that runs an engine and normalises what it made.

    >>> from repro.build import BuildSpec, build                      # doctest: +SKIP
    >>> build(BuildSpec(Path("app"), output=Path("out")), config=Config()).digest  # doctest: +SKIP
"""

from __future__ import annotations

from repro.build.backend import (
    Backend,
    BuildEvent,
    BuildRequest,
    BuildResult,
    EngineOutput,
    ProgressCallback,
    RegistrySettings,
)
from repro.build.capabilities import (
    Capabilities,
    UnsupportedFeatureError,
    check_capabilities,
    find_unsupported,
)
from repro.build.epoch import Epoch, source_date_epoch
from repro.build.pipeline import BuildSpec, Prepared, Variation, build, prepare, publish, run_build
from repro.build.preflight import UnpinnedImageError, check_pinned, find_unpinned

__all__ = [
    "Backend",
    "BuildEvent",
    "BuildRequest",
    "BuildResult",
    "BuildSpec",
    "Capabilities",
    "EngineOutput",
    "Epoch",
    "Prepared",
    "ProgressCallback",
    "RegistrySettings",
    "UnpinnedImageError",
    "UnsupportedFeatureError",
    "Variation",
    "build",
    "check_capabilities",
    "check_pinned",
    "find_unpinned",
    "find_unsupported",
    "prepare",
    "publish",
    "run_build",
    "source_date_epoch",
]
