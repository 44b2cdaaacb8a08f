"""Crafted OCI image layouts for offline tests: layers given as lists of tar members.

>>> layout, image = make_image(tmp_path, [[File("etc/hostname", b"box\\n")]])  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from repro.oci import media
from repro.oci.layout import Image, ImageLayout


@dataclass(frozen=True)
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644


@dataclass(frozen=True)
class Dir:
    path: str
    mode: int = 0o755


@dataclass(frozen=True)
class Link:
    path: str
    target: str
    hard: bool = False


Member = File | Dir | Link


def layer_tar(members: Sequence[Member]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.path)
            info.mtime = 0
            if isinstance(member, File):
                info.size, info.mode = len(member.data), member.mode
                tar.addfile(info, io.BytesIO(member.data))
                continue
            if isinstance(member, Dir):
                info.type, info.mode = tarfile.DIRTYPE, member.mode
            else:
                info.type = tarfile.LNKTYPE if member.hard else tarfile.SYMTYPE
                info.linkname = member.target
            tar.addfile(info)
    return buffer.getvalue()


def make_image(
    directory: Path,
    layers: Sequence[Sequence[Member] | bytes],
    *,
    compress: bool | Sequence[bool] = False,
    history: Sequence[str] | None = None,
    created: str = "2024-01-01T00:00:00Z",
    tag: str = "t",
    architecture: str = "amd64",
) -> tuple[ImageLayout, Image]:
    """A layout at ``directory`` with one image of ``layers`` (member lists or raw tar bytes)."""
    layout = ImageLayout.create(directory)
    descriptors, diff_ids = [], []
    for index, layer in enumerate(layers):
        raw = layer if isinstance(layer, bytes) else layer_tar(layer)
        squeeze = compress if isinstance(compress, bool) else compress[index]
        blob = gzip.compress(raw, mtime=0) if squeeze else raw
        kind = media.OCI_LAYER_GZIP if squeeze else media.OCI_LAYER_TAR
        descriptors.append(layout.write_blob(blob, kind))
        from repro.digest import Digest

        diff_ids.append(str(Digest.of(raw)))
    config = {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": text} for text in (history or [f"layer {i}" for i in range(len(layers))])],
    }
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [d.to_json() for d in descriptors],
    }
    desc = layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST)
    layout.set_tag(tag, desc)
    return layout, layout.image(tag)
