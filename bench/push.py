"""Benchmark pushing a large image: ``repro push`` against ``skopeo copy oci:… docker://…``.

The image is the Debian bookworm minbase of the test bed (devtools.testbed.images), in two
forms: as buildah leaves layers in an ``oci:`` layout, uncompressed (one 170 MB layer),
and gzip-compressed (60 MB). Setup (making the layouts) is not timed. Then, in the same
run, for each layout and each repetition:

- ``repro push oci:DIR:TAG HOST/NAME:1`` as a subprocess (Python start-up included), and
  ``skopeo copy --preserve-digests`` (so neither recompresses: both publish the layout's
  digest), each to a registry of its own, so that nothing can be reused or mounted
  (skopeo remembers where it has seen blobs and would mount them from there);
- the same push again to the same repository, where every blob is already there;
- repro's peak memory: the CLI process's maximum RSS, and the peak of Python
  allocations (tracemalloc) of ``push_image`` in this process.

Straight to the registry on loopback, and through a proxy adding ``--latency`` ms per
request. The goals: repro within 1.1x skopeo's time; repro under 100 MB peak RSS
whatever the layer size (layers stream in 8 MiB chunks).

Run: ``.venv/bin/python bench/push.py`` (about two minutes; needs docker-registry and
skopeo on PATH, and builds the Debian root file system on first use, ~20 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.stats import Spread, ratio  # noqa: E402
from devtools.testbed import RunningRegistry, start_plain_registry  # noqa: E402
from devtools.testbed.images import DEBIAN_SUITE, debian_base  # noqa: E402
from devtools.testbed.proxy import FaultProxy, Latency  # noqa: E402
from repro.config import Config, RegistryConfig  # noqa: E402
from repro.digest import Digest  # noqa: E402
from repro.images.push import push_image  # noqa: E402
from repro.images.store import RegistryStore  # noqa: E402
from repro.oci import media  # noqa: E402
from repro.oci.layout import ImageLayout  # noqa: E402
from repro.reference import parse_reference  # noqa: E402
from repro.registry import RegistryClient  # noqa: E402

TIME_GOAL = 1.0
#: A re-push where every blob already exists: HEAD checks in parallel, one round of requests.
AGAIN_GOAL = 1.5
MEMORY_GOAL_MB = 100.0
# Runs the CLI and reports its peak RSS (KiB on Linux) on the last line of stderr.
CLI = (
    "import resource, sys\n"
    "from repro.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@dataclass(frozen=True)
class Layout:
    label: str
    path: Path
    tag: str
    size: int  # bytes of blobs


@dataclass
class Figures:
    repro: list[float]
    skopeo: list[float]
    repro_again: list[float]
    skopeo_again: list[float]
    rss_mb: list[float]


def uncompressed_layout(rootfs: Path, directory: Path) -> Layout:
    """The Debian root file system as a one-layer image with an uncompressed layer."""
    layout = ImageLayout.create(directory)
    hasher = Digest.hasher()
    with rootfs.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
    diff_id = hasher.digest()
    layout.import_blob(rootfs, diff_id)
    layer = {"mediaType": media.OCI_LAYER_TAR, "digest": str(diff_id), "size": hasher.size}
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "mmdebstrap --variant=minbase"}],
    }
    config_desc = layout.write_blob(json.dumps(config, sort_keys=True).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer],
    }
    layout.set_tag("tar", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    return Layout("uncompressed", directory, "tar", hasher.size + config_desc.size)


def blob_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path / "blobs").rglob("*") if p.is_file())


@contextmanager
def endpoint(workdir: Path, latency_ms: float) -> Iterator[tuple[RunningRegistry, str]]:
    """A registry of its own, and the host to push to (a latency proxy in front, if asked)."""
    with start_plain_registry(workdir / f"registry-{time.monotonic_ns()}") as registry:
        if latency_ms <= 0:
            yield registry, registry.host
            return
        with FaultProxy(registry.url) as proxy:
            proxy.add(Latency(latency_ms / 1000))
            yield registry, proxy.host


def timed(function: Callable[[], None]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def repro_cli(layout: Layout, host: str, name: str, expected: Digest) -> float:
    """Run ``repro push``; return its peak RSS in MB."""
    env = {**os.environ, "REPRO_INSECURE_REGISTRIES": host, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", CLI, "push", f"oci:{layout.path}:{layout.tag}", f"{host}/{name}:1"]
    done = subprocess.run(argv, capture_output=True, env=env, cwd=tempfile.gettempdir(), check=False)
    if done.returncode != 0:
        raise SystemExit(f"repro push failed: {done.stderr.decode()[-2000:]}")
    assert done.stdout.decode().strip().endswith(str(expected)), done.stdout
    last = done.stderr.decode().strip().splitlines()[-1].split()
    return int(last[1]) / 1024


def skopeo(layout: Layout, host: str, name: str) -> None:
    subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"oci:{layout.path}:{layout.tag}",
            f"docker://{host}/{name}:1",
        ],
        check=True,
        capture_output=True,
    )


def measure(layout: Layout, workdir: Path, repeat: int, latency_ms: float) -> Figures:
    expected = ImageLayout.open(layout.path).find(layout.tag).digest
    figures = Figures([], [], [], [], [])
    for _ in range(repeat):
        with endpoint(workdir, latency_ms) as (_, host):
            for times in (figures.repro, figures.repro_again):  # fresh, then every blob there
                started = time.perf_counter()
                figures.rss_mb.append(repro_cli(layout, host, "repro", expected))
                times.append(time.perf_counter() - started)
        with endpoint(workdir, latency_ms) as (_, host):
            figures.skopeo.append(timed(lambda: skopeo(layout, host, "skopeo")))
            figures.skopeo_again.append(timed(lambda: skopeo(layout, host, "skopeo")))
    return figures


def python_peak(layout: Layout, workdir: Path) -> float:
    """Peak of Python allocations (MB) while ``push_image`` pushes the layout (not timed)."""
    with endpoint(workdir, 0) as (registry, host):
        config = Config(registries={host: RegistryConfig(insecure=True)})
        with RegistryClient(config) as client:
            tracemalloc.start()
            try:
                store = RegistryStore(client, parse_reference(f"{host}/t:1"))
                push_image(ImageLayout.open(layout.path), layout.tag, store, tag="1")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    del registry
    return peak / 1e6


def report(title: str, layout: Layout, figures: Figures, python_mb: float | None) -> None:
    print(
        f"\n{title}: {layout.label} layout, {layout.size / 1e6:.0f} MB of blobs "
        f"({len(figures.repro)} interleaved rounds)"
    )
    rows = {
        "repro push (CLI, fresh repository)": Spread(tuple(figures.repro)),
        "skopeo copy (fresh repository)": Spread(tuple(figures.skopeo)),
        "repro push again (every blob there)": Spread(tuple(figures.repro_again)),
        "skopeo copy again (every blob there)": Spread(tuple(figures.skopeo_again)),
    }
    for label, spread in rows.items():
        print(f"  {label:<40} {spread}")
    fresh = ratio(rows["repro push (CLI, fresh repository)"], rows["skopeo copy (fresh repository)"])
    met = "met" if fresh.median <= TIME_GOAL else "NOT met"
    print(f"  repro / skopeo, fresh push: {fresh} (goal <= {TIME_GOAL:g}x median: {met})")
    again = ratio(rows["repro push again (every blob there)"], rows["skopeo copy again (every blob there)"])
    met = "met" if again.median <= AGAIN_GOAL else "NOT met"
    print(f"  repro / skopeo, re-push:    {again} (goal <= {AGAIN_GOAL:g}x median: {met})")
    peak = max(figures.rss_mb)
    met = "met" if peak <= MEMORY_GOAL_MB else "NOT met"
    print(f"  repro peak RSS (CLI process): {peak:.0f} MB (goal <= {MEMORY_GOAL_MB:g} MB: {met})")
    if python_mb is not None:
        print(f"  repro peak Python allocations during push_image (tracemalloc): {python_mb:.1f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rounds", "--repeat", dest="repeat", type=int, default=3, help="interleaved rounds (default 3)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=20.0,
        help="ms a proxy adds per request; 0 skips that pass (default 20)",
    )
    parser.add_argument("--only", choices=("uncompressed", "gzip"), help="measure one layout only")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="repro-bench-push-"))
    try:
        started = time.perf_counter()
        base = debian_base()
        layouts = []
        if args.only != "gzip":
            layouts.append(uncompressed_layout(base.rootfs, workdir / "uncompressed"))
        if args.only != "uncompressed":
            layouts.append(Layout("gzip", base.layout, DEBIAN_SUITE, blob_bytes(base.layout)))
        print(f"setup: layouts ready in {time.perf_counter() - started:.1f} s under {workdir}")
        for layout in layouts:
            figures = measure(layout, workdir, args.repeat, 0)
            report("loopback", layout, figures, python_peak(layout, workdir))
            if args.latency > 0:
                figures = measure(layout, workdir, args.repeat, args.latency)
                report(f"through a proxy adding {args.latency:g} ms per request", layout, figures, None)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
