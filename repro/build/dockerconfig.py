"""Carry Docker's own image-config fields into an OCI image config, as BuildKit writes them.

The OCI image config has no ``Healthcheck``, ``OnBuild`` or ``Shell``; Docker and BuildKit
put them in the ``config`` object of an OCI config anyway (moby's ``DockerOCIImageConfig``:
the OCI ``ImageConfig`` plus ``DockerOCIImageConfigExt``), and ``docker run`` reads them
from there. An engine that converts its Docker-format result to OCI (buildah) drops
them; :func:`with_docker_extensions` puts them back into an OCI config and
:func:`rewrite_image_config` writes such a change into an OCI layout.

    >>> docker_extensions({"Healthcheck": {"Test": ["CMD-SHELL", "true"]}, "OnBuild": [], "Env": []})
    {'Healthcheck': {'Test': ['CMD-SHELL', 'true']}}

``Healthcheck`` durations are integer nanoseconds (Go's ``time.Duration``); an empty
``OnBuild`` or ``Shell`` is left out, as BuildKit leaves it out (``omitempty``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from repro.digest import Digest
from repro.oci import media
from repro.oci.layout import ImageLayout

#: The Docker-only fields of ``config`` that an OCI consumer (Docker) reads.
DOCKER_CONFIG_KEYS = ("Healthcheck", "OnBuild", "Shell")


def docker_extensions(docker_config: Mapping[str, Any]) -> dict[str, Any]:
    """The Docker-only fields of a Docker-format ``config`` object, empty ones left out."""
    return {key: docker_config[key] for key in DOCKER_CONFIG_KEYS if docker_config.get(key)}


def with_docker_extensions(config: Mapping[str, Any], extensions: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` (an OCI image config) with ``extensions`` set in its ``config`` object."""
    runtime = config.get("config")
    runtime = dict(runtime) if isinstance(runtime, dict) else {}
    runtime.update(extensions)
    return {**config, "config": runtime}


def rewrite_image_config(
    layout: Path,
    tag: str,
    transform: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    annotations: Mapping[str, str] | None = None,
) -> bool:
    """Replace the config of the image ``tag`` of ``layout`` with ``transform(config)``, add
    ``annotations`` to its manifest, and retag the new manifest. Returns False (and writes
    nothing) when neither changes anything."""
    store = ImageLayout.open(layout)
    descriptor = store.find(tag)
    manifest = json.loads(store.read_blob(descriptor.digest))
    config = json.loads(store.read_blob(Digest.parse(manifest["config"]["digest"])))
    changed = transform(config)
    merged = {**manifest.get("annotations", {}), **(annotations or {})}
    if changed == config and merged == manifest.get("annotations", {}):
        return False
    config_desc = store.write_blob(json.dumps(changed).encode(), manifest["config"]["mediaType"])
    manifest["config"] = {**manifest["config"], **config_desc.to_json()}
    if merged:
        manifest["annotations"] = merged
    manifest_desc = store.write_blob(
        json.dumps(manifest).encode(), manifest.get("mediaType", media.OCI_MANIFEST)
    )
    store.set_tag(tag, manifest_desc)
    return True


__all__ = ["DOCKER_CONFIG_KEYS", "docker_extensions", "rewrite_image_config", "with_docker_extensions"]
