"""Benchmark the normaliser against ``gzip -n -6`` of the same uncompressed tar.

Uses the test bed's Debian minbase root file system (``mmdebstrap``, ~170 MB, cached; see
devtools/testbed/images.py) and, untimed, makes two OCI layouts with uncompressed layers (as
``buildah … oci:DIR`` writes them): one layer holding the whole tar, and the same files
split into ``--parts`` layers. Then, in the same run:

- single layer: ``gzip -n -6`` of the tar vs ``normalize_layout`` (parse, canonical
  rewrite, sha256 of input/tar/blob, zlib level 6); the goal is a ratio of at most 1.25;
- several layers: ``gzip -n -6`` of each part one after the other vs ``normalize_layout``
  with 1 worker and with one worker per core.

Run: ``.venv/bin/python bench/normalize.py [--parts 4] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import interleaved, ratio  # noqa: E402
from devtools.testbed.images import SOURCE_DATE_EPOCH, debian_base  # noqa: E402
from repro.digest import Digest  # noqa: E402
from repro.layers.normalize import normalize_layout  # noqa: E402
from repro.oci import media  # noqa: E402
from repro.oci.layout import ImageLayout  # noqa: E402

CHUNK = 1 << 20


def gzip_cli(paths: list[Path]) -> None:
    for path in paths:
        with path.open("rb") as source:
            subprocess.run(["gzip", "-n", "-6"], stdin=source, stdout=subprocess.DEVNULL, check=True)


def zlib_only(path: Path) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            compressor.compress(chunk)
    compressor.flush()


def split_tar(rootfs: Path, parts: int, directory: Path) -> list[Path]:
    """The members of ``rootfs`` dealt into ``parts`` tars of about equal size, order kept."""
    paths = [directory / f"part{i}.tar" for i in range(parts)]
    sizes = [0] * parts
    with contextlib.ExitStack() as stack:
        outputs = [stack.enter_context(tarfile.open(p, "w", format=tarfile.PAX_FORMAT)) for p in paths]
        source = stack.enter_context(tarfile.open(rootfs))
        for member in source:
            i = sizes.index(min(sizes))
            sizes[i] += member.size + 512
            outputs[i].addfile(member, source.extractfile(member) if member.isreg() else None)
    return paths


def make_layout(path: Path, layers: list[Path]) -> ImageLayout:
    layout = ImageLayout.create(path)
    descriptors, diff_ids = [], []
    for layer in layers:
        digest = Digest.hasher()
        with layer.open("rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
        layout.import_blob(layer, digest.digest())
        descriptors.append(
            {"mediaType": media.OCI_LAYER_TAR, "digest": str(digest.digest()), "size": digest.size}
        )
        diff_ids.append(str(digest.digest()))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
    }
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": descriptors,
    }
    layout.set_tag("bench", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    return layout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", type=int, default=4, help="layers in the several-layer image")
    parser.add_argument(
        "--rounds", "--repeat", dest="repeat", type=int, default=3, help="interleaved rounds (default 3)"
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rootfs = debian_base().rootfs
    size_mb = rootfs.stat().st_size / 1e6
    with tempfile.TemporaryDirectory(prefix="bench-normalize-") as tmp:
        work = Path(tmp)
        print(
            f"setup (untimed): {rootfs} ({size_mb:.0f} MB), split into {args.parts} layers", file=sys.stderr
        )
        single = make_layout(work / "single", [rootfs])
        parts = split_tar(rootfs, args.parts, work)
        multi = make_layout(work / "multi", parts)
        counter = iter(range(10**6))

        def normalize(layout: ImageLayout, workers: int) -> None:
            dest = work / f"out{next(counter)}"
            normalize_layout(layout, dest, tag="bench", source_date_epoch=SOURCE_DATE_EPOCH, workers=workers)
            shutil.rmtree(dest)

        single_times = interleaved(
            args.repeat,
            {
                "gzip": lambda: gzip_cli([rootfs]),
                "zlib": lambda: zlib_only(rootfs),
                "repro": lambda: normalize(single, 1),
            },
        )
        multi_times = interleaved(
            args.repeat,
            {
                "gzip": lambda: gzip_cli(parts),
                "repro1": lambda: normalize(multi, 1),
                "repron": lambda: normalize(multi, cores),
            },
        )

    print(f"single layer, {size_mb:.0f} MB uncompressed tar ({args.repeat} interleaved rounds):")
    print(f"  gzip -n -6                    {single_times['gzip']}")
    print(f"  python zlib level 6 only      {single_times['zlib']}")
    print(f"  repro normalize (1 worker)    {single_times['repro']}")
    print(
        f"  repro / gzip                  {ratio(single_times['repro'], single_times['gzip'])}   (goal <= 1.25)"
    )
    print(f"{args.parts} layers, same files, {cores} cores:")
    print(f"  gzip -n -6, one after another {multi_times['gzip']}")
    print(f"  repro normalize, 1 worker     {multi_times['repro1']}")
    print(f"    / gzip                      {ratio(multi_times['repro1'], multi_times['gzip'])}")
    print(f"  repro normalize, {cores} workers    {multi_times['repron']}")
    print(f"    / gzip                      {ratio(multi_times['repron'], multi_times['gzip'])}")


if __name__ == "__main__":
    main()
