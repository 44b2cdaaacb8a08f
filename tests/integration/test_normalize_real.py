"""The normaliser on the test bed's real layouts: busybox (made here from Debian's
busybox-static) and the Debian minbase root file system made by mmdebstrap."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from devtools.testbed.images import DEBIAN_SUITE, SOURCE_DATE_EPOCH, build_busybox_layouts, debian_base
from repro.layers.normalize import normalize_layout
from repro.oci.layout import ImageLayout
from tests.programs import require_programs


def test_busybox_layout_normalizes_idempotently(tmp_path: Path) -> None:
    require_programs("busybox")
    busybox, _ = build_busybox_layouts(tmp_path / "images")
    first = normalize_layout(busybox, tmp_path / "once", tag="latest", source_date_epoch=SOURCE_DATE_EPOCH)
    second = normalize_layout(
        tmp_path / "once", tmp_path / "twice", tag="latest", source_date_epoch=SOURCE_DATE_EPOCH
    )
    assert second.manifest_digest == first.manifest_digest
    assert second.layer_digests == first.layer_digests
    out = ImageLayout.open(tmp_path / "once")
    layer = out.image("latest").layers[0]
    data = gzip.decompress(out.read_blob(layer.digest, max_size=64 << 20))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert names == sorted(names)  # flat names: the canonical order is plain sorting here
    assert "bin/busybox" in names


@pytest.mark.slow
def test_debian_minbase_normalizes_idempotently(tmp_path: Path) -> None:
    require_programs("mmdebstrap")
    base = debian_base()
    kwargs = {"tag": DEBIAN_SUITE, "source_date_epoch": SOURCE_DATE_EPOCH, "scrub": ["auto"]}
    first = normalize_layout(base.layout, tmp_path / "once", **kwargs)  # type: ignore[arg-type]
    second = normalize_layout(tmp_path / "once", tmp_path / "twice", **kwargs)  # type: ignore[arg-type]
    assert second.manifest_digest == first.manifest_digest
    assert second.diff_ids == first.diff_ids
    assert first.scrub_profiles == ("apt", "dpkg-log", "ldconfig")
    # mmdebstrap's tar is already clean: nothing volatile was left to scrub
    assert second.scrubbed == ()
    assert first.layers[0].entries > 5000
