"""Benchmark a warm rebuild: ``repro build`` of an unchanged context against a warm
``buildah build --layers`` with its own storage.

Starts a plain Distribution registry with the busybox base (setup, not measured), makes
the busybox app context of the integration tests, builds it once both ways (untimed: that
fills repro's cache and buildah's storage), then times, interleaved:

- **buildah --layers**: ``buildah build --layers`` with the reproducible recipe, in the
  same storage every round, into that storage (what a developer re-runs);
- **repro build**: the CLI as a subprocess (Python start-up included): the warm build,
  the export to an OCI layout, normalisation (layers from the cache) and the output;
- **repro build --no-cache**: the same from nothing, for scale.

Prints min/median/max of each and of the per-round ratio ``repro / buildah``; the goal is
≤ 1.2. Run: ``.venv/bin/python bench/warmbuild.py [--rounds 10]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import interleaved, ratio  # noqa: E402
from devtools.testbed import push_base_images, start_plain_registry  # noqa: E402
from tests.integration.assets import make_context  # noqa: E402

GOAL = 1.2
EPOCH = "1704067200"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="repro-bench-warmbuild-") as tmp:
        scratch = Path(tmp)
        print("setting up the registry and the busybox base (not measured)…", file=sys.stderr)
        with start_plain_registry(scratch / "registry") as registry:
            images = push_base_images(registry, workdir=scratch / "images", debian=False)
            context = make_context("busybox-app", scratch / "context", images)
            env = {
                **os.environ,
                "REPRO_INSECURE_REGISTRIES": registry.host,
                "SOURCE_DATE_EPOCH": EPOCH,
                "PYTHONPATH": str(ROOT),
                "XDG_CACHE_HOME": str(scratch / "cache"),
            }
            buildah = [
                "buildah",
                "--root", str(scratch / "buildah" / "storage"),
                "--runroot", str(scratch / "buildah" / "run"),
                "--storage-driver", "vfs",
                "build",
                "--isolation", "chroot",
                "--layers",
                "--pull=always",
                "--timestamp", EPOCH,
                "--identity-label=false",
                "--tls-verify=false",
                "-t", "bench-app",
                str(context),
            ]  # fmt: skip
            repro = [sys.executable, "-m", "repro", "build", str(context)]

            def run(argv: list[str]) -> None:
                subprocess.run(
                    argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )

            def repro_fresh() -> None:
                out = scratch / "fresh"
                run([*repro, "--no-cache", "-o", f"oci:{out}"])
                shutil.rmtree(out)

            cases = {
                "buildah --layers": lambda: run(buildah),
                "repro build": lambda: run([*repro, "-o", f"oci:{scratch / 'out'}"]),
                "repro build --no-cache": repro_fresh,
            }
            for action in cases.values():  # untimed: fills both caches
                action()
            times = interleaved(options.rounds, cases)

    print(f"{os.cpu_count()} CPUs; busybox app, unchanged context, {options.rounds} rounds")
    for name, spread in times.items():
        print(f"{name:24} {spread}")
    warm = ratio(times["repro build"], times["buildah --layers"])
    print(f"repro build / buildah --layers: {warm}  (goal ≤ {GOAL})")
    print(
        f"repro build --no-cache / repro build: {ratio(times['repro build --no-cache'], times['repro build'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
