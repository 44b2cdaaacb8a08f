"""Forged OCI layouts: FIFOs and device links as blobs, lying diff_ids, decompression
bombs, oversized package databases and deeply nested JSON all end in a clear error with
exit code 7 -- never a hang, an unbounded read or a traceback."""

from __future__ import annotations

import gzip
import json
import os
import signal
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from repro.cli import main
from repro.digest import Digest
from repro.errors import EXIT_IMAGE, ImageError
from repro.layers.filesystem import ImageFilesystem
from repro.oci import media
from repro.oci.layout import ImageLayout
from tests.unit.layers.layerkit import File, make_image

MIB = 1024 * 1024
STATUS = b"Package: busybox\nStatus: install ok installed\nVersion: 1.36\nArchitecture: amd64\n\n"


class _HangError(Exception):
    pass


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """A regression here would block for ever (a FIFO) or read for ever (/dev/zero)."""

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise _HangError("the read did not end")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _sbom(layout: ImageLayout, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["sbom", f"oci:{layout.path}:t"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _layer_blob(layout: ImageLayout, index: int = 0) -> Path:
    return layout.blob_path(layout.image("t").layers[index].digest)


def test_a_fifo_as_a_layer_blob_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout, _ = make_image(tmp_path / "img", [[File("etc/hostname", b"box\n")]])
    blob = _layer_blob(layout)
    blob.unlink()
    os.mkfifo(blob)
    code, err = _sbom(layout, capsys)
    assert code == EXIT_IMAGE
    assert "not a regular file" in err


def test_a_link_to_dev_zero_as_a_layer_blob_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout, _ = make_image(tmp_path / "img", [[File("etc/hostname", b"box\n")]])
    blob = _layer_blob(layout)
    blob.unlink()
    blob.symlink_to("/dev/zero")
    code, err = _sbom(layout, capsys)
    assert code == EXIT_IMAGE
    assert "not a regular file" in err


def test_a_link_out_of_the_layout_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout, _ = make_image(tmp_path / "img", [[File("etc/hostname", b"box\n")]])
    blob = _layer_blob(layout)
    outside = tmp_path / "elsewhere"
    blob.rename(outside)
    blob.symlink_to(outside)
    code, err = _sbom(layout, capsys)
    assert code == EXIT_IMAGE
    assert "link out of the layout" in err


@pytest.mark.parametrize("name", ["index.json", "config", "manifest"])
def test_fifos_and_devices_as_documents_are_refused(tmp_path: Path, name: str) -> None:
    layout, image = make_image(tmp_path / "img", [[File("etc/hostname", b"box\n")]])
    path = {
        "index.json": layout.path / "index.json",
        "config": layout.blob_path(image.manifest.config.digest),
        "manifest": layout.blob_path(layout.find("t").digest),
    }[name]
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(ImageError, match="not a regular file"):
        layout.image("t")
    path.unlink()
    path.symlink_to("/dev/zero")
    with pytest.raises(ImageError, match="not a regular file"):
        layout.image("t")


def test_a_blob_larger_than_its_descriptor_is_refused_before_reading(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img", [[File("etc/hostname", b"box\n")]])
    with _layer_blob(layout).open("ab") as fh:
        fh.truncate(1024 * MIB)  # sparse: a 1 GiB blob on disk, none of it read
    with pytest.raises(ImageError, match="its descriptor says"):
        ImageFilesystem.scan(layout, image)


def test_a_diff_id_that_does_not_match_the_layer_fails_sbom(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout, image = make_image(tmp_path / "img", [[File("etc/hostname", b"box\n")]], compress=True)
    config = dict(image.config)
    config["rootfs"] = {"type": "layers", "diff_ids": [str(Digest.of(b"another layer"))]}
    _replace_config(layout, config)
    code, err = _sbom(layout, capsys)
    assert code == EXIT_IMAGE
    assert "rootfs.diff_ids" in err


def test_diff_ids_for_another_number_of_layers_fail(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img", [[File("etc/hostname", b"box\n")]])
    config = dict(image.config)
    config["rootfs"] = {"type": "layers", "diff_ids": []}
    _replace_config(layout, config)
    with pytest.raises(ImageError, match="0 diff IDs for 1 layers"):
        ImageFilesystem.scan(layout, layout.image("t"))


def _replace_config(layout: ImageLayout, config: dict[str, object]) -> None:
    image = layout.image("t")
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.descriptor.to_json() for layer in image.layers],
    }
    layout.set_tag("t", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))


def test_a_package_database_over_the_file_cap_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status = STATUS * (3 * MIB // len(STATUS))
    layout, _ = make_image(tmp_path / "img", [[File("var/lib/dpkg/status", status)]], compress=True)
    monkeypatch.setenv("REPRO_MAX_FILE_MB", "1")
    code, err = _sbom(layout, capsys)
    assert code == EXIT_IMAGE
    assert "/var/lib/dpkg/status" in err
    assert f"more than the {MIB} bytes a cataloger reads into memory" in err
    assert "REPRO_MAX_FILE_MB" in err


def test_a_decompression_bomb_is_refused_at_the_expansion_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 80 MiB of zeros in a gzip layer of about 80 KiB: more than 100 times its size and
    # more than the 64 MiB every image may expand to.
    layout = ImageLayout.create(tmp_path / "img")
    info_size = 80 * MIB
    member = tarfile.TarInfo("opt/zeros")
    member.size = info_size
    header = member.tobuf(format=tarfile.PAX_FORMAT)
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(header)]
    digest = Digest.hasher("sha256")
    digest.update(header)
    zeros = bytes(MIB)
    for _ in range(info_size // MIB):
        parts.append(compressor.compress(zeros))
        digest.update(zeros)
    parts += [compressor.compress(bytes(1024)), compressor.flush()]
    digest.update(bytes(1024))
    blob = b"".join(parts)
    assert len(blob) < MIB
    _write_single_layer(layout, blob, str(digest.digest()))
    code, err = _sbom(layout, capsys)
    assert code == EXIT_IMAGE
    assert "times their compressed size" in err
    assert "REPRO_MAX_EXPANSION" in err


def _write_single_layer(layout: ImageLayout, blob: bytes, diff_id: str) -> None:
    layer = layout.write_blob(blob, media.OCI_LAYER_GZIP)
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.to_json()],
    }
    layout.set_tag("t", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))


@pytest.mark.parametrize("where", ["index.json", "manifest", "config"])
def test_deeply_nested_json_is_an_image_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    layout, image = make_image(tmp_path / "img", [[File("etc/hostname", b"box\n")]])
    deep = b"[" * 100_000 + b"]" * 100_000
    if where == "index.json":
        (layout.path / "index.json").write_bytes(deep)
    elif where == "manifest":
        desc = layout.write_blob(deep, media.OCI_MANIFEST)
        layout.set_tag("t", desc)
    else:
        config_desc = layout.write_blob(deep, media.OCI_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": config_desc.to_json(),
            "layers": [layer.descriptor.to_json() for layer in image.layers],
        }
        layout.set_tag("t", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    code, err = _sbom(layout, capsys)
    assert code == EXIT_IMAGE
    assert "nested too deeply" in err


def test_gzip_layer_with_honest_diff_id_still_scans(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img", [[File("var/lib/dpkg/status", STATUS)]], compress=True)
    fs = ImageFilesystem.scan(layout, image, track=["var/lib/dpkg/status"])
    assert fs.read("var/lib/dpkg/status") == STATUS
    assert gzip.decompress(_layer_blob(layout).read_bytes())[:1]  # really a gzip layer
