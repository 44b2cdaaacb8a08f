"""``docker save`` archives to OCI image layouts.

A docker archive is a tar of ``manifest.json`` (``[{"Config": …, "Layers": […],
"RepoTags": […]}]``), the image config, and one uncompressed ``layer.tar`` per layer. The
layout gets the config and the layer tars as blobs (the config's ``rootfs.diff_ids`` must
be the layers' digests: that is checked, not assumed) and an OCI manifest tagged ``tag``.
The normaliser then rewrites it into repro's canonical form like any engine's output.

    >>> docker_archive_to_layout(Path("image.tar"), Path("out"), "latest")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro.digest import Digest
from repro.errors import ImageError
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import Descriptor

#: The largest manifest.json or config an archive may hold.
MAX_DOCUMENT = 16 << 20
_CHUNK = 1 << 20


def _read_member(tar: tarfile.TarFile, name: str, where: str) -> bytes:
    try:
        member = tar.getmember(name)
    except KeyError as exc:
        raise ImageError(f"{where}: no {name} in the archive") from exc
    if not member.isfile() or member.size > MAX_DOCUMENT:
        raise ImageError(f"{where}: {name} is not a file of at most {MAX_DOCUMENT} bytes")
    handle = tar.extractfile(member)
    if handle is None:
        raise ImageError(f"{where}: {name} cannot be read")
    return handle.read()


def docker_archive_to_layout(
    archive: Path, output: Path, tag: str, *, annotations: Mapping[str, str] | None = None
) -> Descriptor:
    """Write the one image of the docker archive ``archive`` into the OCI layout ``output``
    as ``tag``; return the manifest's descriptor. Raises ImageError for a malformed archive."""
    where = str(archive)
    layout = ImageLayout.create(output)
    try:
        tar = tarfile.open(archive, mode="r:")  # noqa: SIM115 (closed by the with below)
    except (OSError, tarfile.TarError) as exc:
        raise ImageError(f"{where}: not a readable tar archive: {exc}") from exc
    with tar:
        try:
            entries = json.loads(_read_member(tar, "manifest.json", where))
            entry = entries[0]
            config_name = str(entry["Config"])
            layer_names = [str(name) for name in entry["Layers"]]
        except (ValueError, LookupError, TypeError) as exc:
            raise ImageError(f"{where}: manifest.json does not describe an image: {exc}") from exc
        if len(entries) != 1:
            raise ImageError(f"{where}: expected one image, the archive holds {len(entries)}")
        config_bytes = _read_member(tar, config_name, where)
        try:
            config: dict[str, Any] = json.loads(config_bytes)
            diff_ids = [Digest.parse(d) for d in config["rootfs"]["diff_ids"]]
        except (ValueError, LookupError, TypeError) as exc:
            raise ImageError(f"{where}: {config_name} is not an image config: {exc}") from exc
        if len(diff_ids) != len(layer_names):
            raise ImageError(
                f"{where}: the config names {len(diff_ids)} layers, the archive holds {len(layer_names)}"
            )
        layers = []
        for name, diff_id in zip(layer_names, diff_ids, strict=True):
            try:
                member = tar.getmember(name)
            except KeyError as exc:
                raise ImageError(f"{where}: no {name} in the archive") from exc
            handle = tar.extractfile(member)
            if handle is None or not member.isfile():
                raise ImageError(f"{where}: {name} is not a file")
            with layout.blob_writer(media.OCI_LAYER_TAR) as blob:
                while chunk := handle.read(_CHUNK):
                    blob.write(chunk)
            if blob.descriptor is None or blob.descriptor.digest != diff_id:
                got = blob.descriptor.digest if blob.descriptor else "nothing"
                raise ImageError(f"{where}: {name} is {got}, the config says {diff_id}")
            layers.append(blob.descriptor)
    config_desc = layout.write_blob(config_bytes, media.OCI_CONFIG)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(sorted(annotations.items()))
    descriptor = layout.write_blob(json.dumps(manifest, sort_keys=True).encode(), media.OCI_MANIFEST)
    layout.set_tag(tag, descriptor)
    return descriptor
