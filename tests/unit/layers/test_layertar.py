from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest

from repro.errors import ImageError
from repro.layers.layertar import decompressed
from repro.oci import media
from repro.oci.layout import ImageLayout, Layer
from repro.reproduce.diff import layer_states


def layer_layout(tmp_path: Path, blob: bytes, media_type: str) -> tuple[ImageLayout, Layer]:
    layout = ImageLayout.create(tmp_path)
    desc = layout.write_blob(blob, media_type)
    config = layout.write_blob(
        json.dumps({"rootfs": {"type": "layers", "diff_ids": [str(desc.digest)]}}).encode(), media.OCI_CONFIG
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [desc.to_json()],
    }
    layout.set_tag("t", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    return layout, layout.image("t").layers[0]


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_member_claiming_more_data_than_there_is_fails_at_once(tmp_path: Path, compress: bool) -> None:
    info = tarfile.TarInfo("huge")
    info.size = 1 << 40  # 1 TiB claimed, a few bytes present
    blob = info.tobuf(format=tarfile.PAX_FORMAT) + b"x" * 1024
    if compress:
        blob = gzip.compress(blob, mtime=0)
    layout, layer = layer_layout(tmp_path, blob, media.OCI_LAYER_GZIP if compress else media.OCI_LAYER_TAR)
    started = time.monotonic()
    with pytest.raises(ImageError, match="layer 0"):
        list(layer_states(layout, layer))
    assert time.monotonic() - started < 5


def test_gzip_output_is_bounded_per_read() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    payload = bomb.compress(b"\0" * (256 * 1024 * 1024)) + bomb.flush()  # 256 MiB of zeros, ~250 KiB
    tracemalloc.start()
    try:
        stream, compressed = decompressed(io.BytesIO(payload), "layer 0")
        total = 0
        while chunk := stream.read(64 * 1024):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert compressed
    assert total == 256 * 1024 * 1024
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_multi_member_gzip_reads_every_member() -> None:
    payload = gzip.compress(b"a" * 3_000_000, mtime=0) + gzip.compress(b"b" * 10, mtime=0)
    stream, _ = decompressed(io.BytesIO(payload), "layer 0")
    assert stream.read() == b"a" * 3_000_000 + b"b" * 10


def test_zstd_is_refused_with_a_hint() -> None:
    with pytest.raises(ImageError, match="zstd") as info:
        decompressed(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 10), "layer 3")
    assert "gzip" in info.value.hint
