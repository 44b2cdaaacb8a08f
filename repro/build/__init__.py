"""Reproducible builds: the engine seam (protocol, registry, capabilities), the engines
(buildah, Docker/BuildKit), SOURCE_DATE_EPOCH, and the pipeline that runs an engine and
normalises what it made.

    >>> from repro.build import BuildSpec, build                      # doctest: +SKIP
    >>> build(BuildSpec(Path("app"), output=Path("out")), config=Config()).digest  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    from repro.build.engines import (
        DEFAULT_ENGINE,
        choose_engine_names,
        create_engine,
        engine_names,
    )
    from repro.build.epoch import (
        Epoch,
        source_date_epoch,
    )
    from repro.build.pipeline import (
        BuildSpec,
        Prepared,
        Variation,
        build,
        prepare,
        publish,
        run_build,
    )
    from repro.build.preflight import (
        UnpinnedImageError,
        check_pinned,
        find_unpinned,
    )

# The names are imported on first use (PEP 562): the command line imports
# ``repro.build.engines`` to list the engines, and that must not load the pipeline.
_EXPORTS: dict[str, str] = {
    "Capabilities": "repro.build.capabilities",
    "UnsupportedFeatureError": "repro.build.capabilities",
    "check_capabilities": "repro.build.capabilities",
    "find_unsupported": "repro.build.capabilities",
    "BuildEvent": "repro.build.engine",
    "BuildRequest": "repro.build.engine",
    "BuildResult": "repro.build.engine",
    "BuildSecret": "repro.build.engine",
    "Engine": "repro.build.engine",
    "EngineIdentity": "repro.build.engine",
    "EngineOutput": "repro.build.engine",
    "ProgressCallback": "repro.build.engine",
    "RegistrySettings": "repro.build.engine",
    "RunOptions": "repro.build.engine",
    "DEFAULT_ENGINE": "repro.build.engines",
    "choose_engine_names": "repro.build.engines",
    "create_engine": "repro.build.engines",
    "engine_names": "repro.build.engines",
    "Epoch": "repro.build.epoch",
    "source_date_epoch": "repro.build.epoch",
    "BuildSpec": "repro.build.pipeline",
    "Prepared": "repro.build.pipeline",
    "Variation": "repro.build.pipeline",
    "build": "repro.build.pipeline",
    "prepare": "repro.build.pipeline",
    "publish": "repro.build.pipeline",
    "run_build": "repro.build.pipeline",
    "UnpinnedImageError": "repro.build.preflight",
    "check_pinned": "repro.build.preflight",
    "find_unpinned": "repro.build.preflight",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
