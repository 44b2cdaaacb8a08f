"""A 1 MB layer holding a 1 GiB ``var/lib/dpkg/status`` does not drive ``repro sbom`` to
gigabytes: under a 1 GiB address-space limit it ends with exit 7 and a message naming the
file and the cap (or the expansion limit), never a MemoryError."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

from repro.digest import Digest
from repro.errors import EXIT_IMAGE
from repro.oci import media
from repro.oci.layout import ImageLayout

MIB = 1024 * 1024
GIB = 1024 * MIB
STANZA = b"Package: p\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\n"
ADDRESS_SPACE = 1 * GIB


def _hostile_layout(directory: Path) -> tuple[ImageLayout, int]:
    """One gzip layer whose only file is a 1 GiB dpkg status file."""
    chunk = STANZA * (MIB // len(STANZA))
    count = GIB // len(chunk)
    member = tarfile.TarInfo("var/lib/dpkg/status")
    member.size = len(chunk) * count
    header = member.tobuf(format=tarfile.PAX_FORMAT)
    padding = bytes(-member.size % 512 + 1024)
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    hasher = Digest.hasher("sha256")
    parts = []
    for piece in (header, *([chunk] * count), padding):
        hasher.update(piece)
        parts.append(compressor.compress(piece))
    parts.append(compressor.flush())
    blob = b"".join(parts)
    layout = ImageLayout.create(directory)
    layer = layout.write_blob(blob, media.OCI_LAYER_GZIP)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(hasher.digest())]},
    }
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.to_json()],
    }
    layout.set_tag("t", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    return layout, len(blob)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageLayout, int]:
    return _hostile_layout(tmp_path_factory.mktemp("bomb") / "img")


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "more than the 134217728 bytes a cataloger reads into memory"),
        # With the file cap out of the way, the expansion limit still stops the read.
        ({"REPRO_MAX_FILE_MB": "4096"}, "times their compressed size"),
    ],
    ids=["file-cap", "expansion-cap"],
)
def test_a_one_gib_status_file_in_a_small_layer_is_refused_in_bounded_memory(
    hostile: tuple[ImageLayout, int], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    layout, compressed = hostile
    assert compressed < 8 * MIB
    completed = subprocess.run(
        [sys.executable, "-m", "repro", "sbom", f"oci:{layout.path}:t"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limited,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
        check=False,
    )
    assert completed.returncode == EXIT_IMAGE, completed.stderr
    assert "/var/lib/dpkg/status" in completed.stderr or "layer 0" in completed.stderr
    assert message in completed.stderr
    assert "MemoryError" not in completed.stderr
    assert "Traceback" not in completed.stderr
