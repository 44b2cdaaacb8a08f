"""What build engines write about themselves into an image, for the normaliser to remove.

Engine noise is never user content: a label naming the engine's version
(``io.buildah.version``), config fields that describe the daemon and its build container
(Docker's ``container``, ``container_config``, ``docker_version``), runtime-config fields
that mean nothing on Linux (BuildKit's ``ArgsEscaped``), history comments naming the
engine's frontend (``buildkit.dockerfile.v0``), and the mount-point directories a RUN
step's layer keeps although the step did not write them (BuildKit: ``dev``, ``etc``,
``proc``, ``sys``; see :func:`repro.layers.leftovers.unasked_mount_directories`). Each engine declares
its own (:meth:`repro.build.engine.Engine.noise`); the build pipeline hands the normaliser
the union of every registered engine's, so an image's digest does not depend on which
engine built it — or built its base.

    >>> both = EngineNoise(labels=frozenset({"a"})) | EngineNoise(config_keys=frozenset({"b"}))
    >>> both.labels, both.config_keys
    (frozenset({'a'}), frozenset({'b'}))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class EngineNoise:
    """Labels (``config.Labels`` keys), top-level config keys, runtime-config keys
    (``config.config``), history comments and RUN-layer mount-point directories (top-level
    names) an engine adds about itself."""

    labels: frozenset[str] = frozenset()
    config_keys: frozenset[str] = frozenset()
    runtime_keys: frozenset[str] = frozenset()
    history_comments: frozenset[str] = frozenset()
    mount_directories: frozenset[str] = frozenset()

    def __or__(self, other: EngineNoise) -> EngineNoise:
        return EngineNoise(
            labels=self.labels | other.labels,
            config_keys=self.config_keys | other.config_keys,
            runtime_keys=self.runtime_keys | other.runtime_keys,
            history_comments=self.history_comments | other.history_comments,
            mount_directories=self.mount_directories | other.mount_directories,
        )


#: No engine noise: the normaliser then removes nothing engine-specific.
NO_NOISE: Final = EngineNoise()
