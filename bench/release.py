"""Benchmark ``repro release`` against the commands a user would run by hand for the same
guarantees, measured in the same run.

Starts a plain Distribution registry (devtools.testbed) with the busybox and Debian base
images (setup, not measured), then for each case times:

- **by hand**: two sequential ``buildah build`` runs with the reproducible recipe, each in
  fresh vfs storage of its own, ``syft`` 1.18 on the
  first image (CycloneDX JSON), and ``skopeo copy`` of it to the registry: the sum of what
  a user would run for "built twice, same digest, SBOM, pushed". It does *not* include
  what repro adds on top: normalisation (without which the two buildah digests differ for
  most Dockerfiles), the pin check, the policy gate with its file scan, the three signed
  attestations, the referrers, and the consumer's verification before the tag;
- **repro release**: the CLI as a subprocess (Python start-up included), signing with a
  key and pushing to the same registry, into a repository of its own.

Prints each time and the ratio ``repro release / by hand``; the goal is ≤ 1.2.

Cases: ``busybox`` (a small app on the busybox base) and ``debian`` (``examples/hello`` on
the 170 MB Debian minbase). Run: ``.venv/bin/python bench/release.py`` (about 4 minutes;
``--cases busybox`` for a quick run, ``--repeat 3`` for the median of three).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.testbed import BaseImages, RunningRegistry, push_base_images, start_plain_registry  # noqa: E402
from repro.attest.keys import write_keypair  # noqa: E402

GOAL = 1.2
EPOCH = "1704067200"
PASSWORD = "bench passphrase"  # noqa: S105 (a throw-away key)
REPRO = [sys.executable, "-m", "repro"]
SYFT = shutil.which("syft", path=str(Path(sys.executable).parent)) or "syft"
CASES = ("busybox", "debian")

BUSYBOX_APP = """\
FROM {base}
COPY greeting.txt /app/greeting.txt
RUN mkdir -p /app/bin && printf '#!/bin/sh\\ncat /app/greeting.txt\\n' > /app/bin/greet && chmod 755 /app/bin/greet
LABEL org.opencontainers.image.title="greet"
USER 65534:65534
CMD ["/app/bin/greet"]
"""


@dataclass(frozen=True)
class Row:
    case: str
    steps: dict[str, float]
    release: float

    @property
    def by_hand(self) -> float:
        return sum(self.steps.values())

    @property
    def ratio(self) -> float:
        return self.release / self.by_hand


def make_case(case: str, directory: Path, images: BaseImages) -> Path:
    if case == "busybox":
        directory.mkdir(parents=True)
        (directory / "greeting.txt").write_text("hello\n")
        (directory / "Dockerfile").write_text(BUSYBOX_APP.format(base=images.busybox.pinned))
        return directory
    if images.debian is None:
        sys.exit("bench: the Debian base image was not built")
    shutil.copytree(ROOT / "examples" / "hello", directory)
    dockerfile = directory / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("FROM debian:bookworm", f"FROM {images.debian.pinned}")
    )
    return directory


def run(argv: list[str], env: dict[str, str] | None = None) -> None:
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        sys.exit(f"bench: {' '.join(argv[:3])}… failed ({completed.returncode}):\n{completed.stderr[-3000:]}")


def buildah(context: Path, workdir: Path) -> Path:
    """One build with the reproducible recipe, in fresh storage; the layout it wrote."""
    out = workdir / "out"
    run([
        "buildah",
        "--root", str(workdir / "storage"),
        "--runroot", str(workdir / "run"),
        "--storage-driver", "vfs",
        "build",
        "--isolation", "chroot",
        "--layers",
        "--no-cache",
        "--pull=always",
        "--tls-verify=false",
        "--timestamp", EPOCH,
        "--identity-label=false",
        "-t", f"oci:{out}:app",
        "-f", str(context / "Dockerfile"),
        str(context),
    ])  # fmt: skip
    return out


def by_hand(context: Path, scratch: Path, registry: RunningRegistry, repository: str) -> dict[str, float]:
    workdirs = [Path(tempfile.mkdtemp(dir=scratch, prefix="hand-")) for _ in range(2)]
    steps: dict[str, float] = {}
    try:
        start = time.perf_counter()
        first = buildah(context, workdirs[0])
        buildah(context, workdirs[1])
        steps["buildah x2"] = time.perf_counter() - start
        start = time.perf_counter()
        run([SYFT, "scan", f"oci-dir:{first}", "-o", f"cyclonedx-json={workdirs[0] / 'sbom.json'}", "-q"])
        steps["syft"] = time.perf_counter() - start
        start = time.perf_counter()
        run([
            "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
            f"oci:{first}:app", f"docker://{registry.host}/{repository}:1.0",
        ])  # fmt: skip
        steps["skopeo copy"] = time.perf_counter() - start
        return steps
    finally:
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)


def repro_release(
    context: Path, key: Path, registry: RunningRegistry, repository: str, env: dict[str, str]
) -> float:
    target = f"{registry.host}/{repository}:1.0"
    start = time.perf_counter()
    run([*REPRO, "release", str(context), "--image", target, "--key", str(key), "--push", target], env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the median is shown")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")

    rows = []
    with tempfile.TemporaryDirectory(prefix="repro-bench-release-") as tmp:
        scratch = Path(tmp)
        print("setting up the registry and base images (not measured)…", file=sys.stderr)
        with start_plain_registry(scratch / "registry") as registry:
            images = push_base_images(registry, workdir=scratch / "images", debian="debian" in cases)
            key = write_keypair(scratch / "signing", PASSWORD.encode()).private_key
            env = {
                **os.environ,
                "REPRO_INSECURE_REGISTRIES": registry.host,
                "SOURCE_DATE_EPOCH": EPOCH,
                "REPRO_KEY_PASSWORD": PASSWORD,
                "PYTHONPATH": str(ROOT),
            }
            for case in cases:
                context = make_case(case, scratch / "contexts" / case, images)
                buildah(context, Path(tempfile.mkdtemp(dir=scratch)))  # warm the page cache, untimed
                hand: list[dict[str, float]] = []
                released: list[float] = []
                for i in range(args.repeat):
                    hand.append(by_hand(context, scratch, registry, f"hand-{case}-{i}"))
                    released.append(repro_release(context, key, registry, f"release-{case}-{i}", env))
                steps = {name: statistics.median(h[name] for h in hand) for name in hand[0]}
                rows.append(Row(case, steps, statistics.median(released)))
                print(f"  {case}: done", file=sys.stderr)

    print(f"{os.cpu_count()} CPUs; median of {args.repeat} run(s); goal: repro release / by hand ≤ {GOAL}")
    print(
        f"{'case':<9}{'buildah x2':>12}{'syft':>8}{'skopeo':>9}{'by hand':>10}{'repro release':>15}{'ratio':>8}"
    )
    for row in rows:
        s = row.steps
        print(
            f"{row.case:<9}{s['buildah x2']:>10.1f} s{s['syft']:>6.1f} s{s['skopeo copy']:>7.1f} s"
            f"{row.by_hand:>8.1f} s{row.release:>13.1f} s{row.ratio:>7.2f}x"
            + ("" if row.ratio <= GOAL else "  (over the goal)")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
