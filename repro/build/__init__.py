"""Reproducible builds: the engine seam (protocol, registry, capabilities), the engines
(buildah, Docker/BuildKit), SOURCE_DATE_EPOCH, and the pipeline that runs an engine and
normalises what it made.

    >>> from repro.build import BuildSpec, build                      # doctest: +SKIP
    >>> build(BuildSpec(Path("app"), output=Path("out")), config=Config()).digest  # doctest: +SKIP
"""

from __future__ import annotations

from repro.build.capabilities import (
    Capabilities,
    UnsupportedFeatureError,
    check_capabilities,
    find_unsupported,
)
from repro.build.engine import (
    BuildEvent,
    BuildRequest,
    BuildResult,
    BuildSecret,
    Engine,
    EngineIdentity,
    EngineOutput,
    ProgressCallback,
    RegistrySettings,
    RunOptions,
)
from repro.build.engines import DEFAULT_ENGINE, choose_engine_names, create_engine, engine_names
from repro.build.epoch import Epoch, source_date_epoch
from repro.build.pipeline import BuildSpec, Prepared, Variation, build, prepare, publish, run_build
from repro.build.preflight import UnpinnedImageError, check_pinned, find_unpinned

__all__ = [
    "DEFAULT_ENGINE",
    "BuildEvent",
    "BuildRequest",
    "BuildResult",
    "BuildSecret",
    "BuildSpec",
    "Capabilities",
    "Engine",
    "EngineIdentity",
    "EngineOutput",
    "Epoch",
    "Prepared",
    "ProgressCallback",
    "RegistrySettings",
    "RunOptions",
    "UnpinnedImageError",
    "UnsupportedFeatureError",
    "Variation",
    "build",
    "check_capabilities",
    "check_pinned",
    "choose_engine_names",
    "create_engine",
    "engine_names",
    "find_unpinned",
    "find_unsupported",
    "prepare",
    "publish",
    "run_build",
    "source_date_epoch",
]
