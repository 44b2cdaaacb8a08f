"""What build engines write about themselves into an image, for the normaliser to remove.

Engine noise is never user content: a label naming the engine's version
(``io.buildah.version``), config fields that describe the daemon and its build container
(Docker's ``container``, ``container_config``, ``docker_version``). Each engine declares
its own (:meth:`repro.build.engine.Engine.noise`); the build pipeline hands the normaliser
the union of every registered engine's, so an image's digest does not depend on which
engine built it — or built its base.

    >>> EngineNoise(labels=frozenset({"a"})) | EngineNoise(config_keys=frozenset({"b"}))
    EngineNoise(labels=frozenset({'a'}), config_keys=frozenset({'b'}))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class EngineNoise:
    """Labels (``config.Labels`` keys) and top-level config keys an engine adds about itself."""

    labels: frozenset[str] = frozenset()
    config_keys: frozenset[str] = frozenset()

    def __or__(self, other: EngineNoise) -> EngineNoise:
        return EngineNoise(
            labels=self.labels | other.labels,
            config_keys=self.config_keys | other.config_keys,
        )


#: No engine noise: the normaliser then removes nothing engine-specific.
NO_NOISE: Final = EngineNoise()
