"""The registry of build engines: which names exist, which one a build uses, and making it.

    >>> engine_names()
    ('buildah', 'docker')
    >>> choose_engine_names((), config=Config())
    ('buildah',)

The engine comes from, first match winning: ``--engine NAME`` (``--engines A,B`` for
``repro verify``), ``REPRO_ENGINE`` (applied to the configuration by
:func:`repro.config.load_config`), ``engine = "NAME"`` in ``[tool.repro]``, else
:data:`DEFAULT_ENGINE`. Engine-specific settings sit in ``[tool.repro.engines.NAME]``; the
CLI adds its flags (``--docker-host``, ``--builder``) to them.

Adding an engine is one module with a class satisfying :class:`~repro.build.engine.Engine`
(and a ``from_options(settings)`` class method), one entry in :data:`ENGINES`, and its tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Final, Protocol

from repro.config import Config
from repro.errors import UsageError
from repro.layers.noise import NO_NOISE, EngineNoise

if TYPE_CHECKING:
    from repro.build.engine import Engine

DEFAULT_ENGINE: Final = "buildah"

#: Engine name -> ``module:Class``, imported only when that engine is used.
ENGINES: Final[Mapping[str, str]] = {
    "buildah": "repro.build.buildah:BuildahEngine",
    "docker": "repro.build.docker:DockerEngine",
}


class EngineFactory(Protocol):
    """An engine class: made from its ``[tool.repro.engines.NAME]`` settings."""

    def from_options(self, options: Mapping[str, str]) -> Engine: ...

    def __call__(self) -> Engine: ...


def engine_names() -> tuple[str, ...]:
    """Every registered engine's name, sorted."""
    return tuple(sorted(ENGINES))


def engine_class(name: str) -> EngineFactory:
    """The class registered as ``name``; a usage error naming the choices for anything else."""
    target = ENGINES.get(name)
    if target is None:
        raise UsageError(
            f"unknown engine {name!r}",
            hint=f"choose one of: {', '.join(engine_names())}",
        )
    module_name, _, attribute = target.partition(":")
    factory: EngineFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def create_engine(name: str, *, config: Config, options: Mapping[str, str] | None = None) -> Engine:
    """The engine ``name``, set up from ``[tool.repro.engines.NAME]`` with ``options``
    (command-line settings) on top."""
    settings = {**config.engine_options.get(name, {}), **(options or {})}
    return engine_class(name).from_options(settings)


def choose_engine_names(requested: Sequence[str], *, config: Config) -> tuple[str, ...]:
    """The engines to build with: ``requested`` (flags) if any, else the configured one
    (``REPRO_ENGINE`` or ``[tool.repro] engine``), else :data:`DEFAULT_ENGINE`. Every name
    is checked against the registry before anything builds."""
    names = tuple(requested) or ((config.engine,) if config.engine else (DEFAULT_ENGINE,))
    for name in names:
        if name not in ENGINES:
            raise UsageError(f"unknown engine {name!r}", hint=f"choose one of: {', '.join(engine_names())}")
    return names


def engine_noise() -> EngineNoise:
    """What every registered engine writes about itself: the normaliser removes all of it
    whichever engine built the image, since a base image may come from another engine."""
    return reduce(lambda a, b: a | b, (engine_class(name)().noise() for name in ENGINES), NO_NOISE)
