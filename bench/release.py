"""Benchmark ``repro release``: against the commands a user would run by hand for the same
guarantees, and with N images released at once, on the local engine and on a remote daemon.

Starts a plain Distribution registry (devtools.testbed) with the busybox and Debian base
images (setup, not measured), then measures, in interleaved rounds (bench/stats.py: every
case once per round, min/median/max over the rounds, ratios taken per round):

**release vs by hand** (``--cases busybox,debian``):

- *by hand*: two sequential ``buildah build`` runs with the reproducible recipe, each in
  fresh vfs storage of its own, ``syft`` 1.18 on the first image (CycloneDX JSON), and
  ``skopeo copy`` of it to the registry: the sum of what a user would run for "built twice,
  same digest, SBOM, pushed". It does *not* include what repro adds on top: normalisation
  (without which the two buildah digests differ for most Dockerfiles), the pin check, the
  policy gate with its file scan, the signed attestations, the referrers, and the
  consumer's verification before the tag;
- *repro release*: the CLI as a subprocess (Python start-up included), signing with a key
  and pushing to the same registry, into a repository of its own.

The ratio is ``repro release / by hand``; the goal is ≤ 1.1.

**N images at once** (``--concurrency 1,2,4``): N different busybox apps released by N
``repro release`` processes started together, each to its own repository; the wall time
until the last finishes, the time per image (wall / N) and the ratio of the wall time to
one image's (1.0 = N images cost what one does; N = no gain from running them together).
Measured with buildah on this machine and, with ``--remote``, with ``--engine docker``
talking to a Docker Engine of the test bed over ``tcp://127.0.0.1`` with TLS client
certificates — the path a remote build daemon takes (here on the same 2 cores, so it
shows the protocol's cost, not more machines).

Run: ``.venv/bin/python bench/release.py`` (about 15 minutes on a loaded 2-core machine);
``--cases busybox --concurrency 1,2 --rounds 2`` for a quick run; ``--no-remote`` without
the docker daemon; ``--rounds 5`` for a tighter spread.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import Spread, interleaved_measured, ratio  # noqa: E402
from devtools.testbed import BaseImages, RunningRegistry, push_base_images, start_plain_registry  # noqa: E402
from devtools.testbed.dockerd import DOCKER_CLIENT, start_docker_daemon  # noqa: E402
from repro.attest.keys import write_keypair  # noqa: E402

GOAL = 1.1
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


def make_case(case: str, directory: Path, images: BaseImages, greeting: str = "hello") -> Path:
    if case == "busybox":
        directory.mkdir(parents=True)
        (directory / "greeting.txt").write_text(greeting + "\n")
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


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    completed = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        sys.exit(f"bench: {' '.join(argv[:4])}… failed ({completed.returncode}):\n{completed.stderr[-3000:]}")


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


class Counter:
    """Unique repository names across rounds, so that no push finds its blobs already there."""

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


def by_hand(
    context: Path, scratch: Path, registry: RunningRegistry, repository: str, steps: dict[str, list[float]]
) -> float:
    """The by-hand sequence; its steps' times are appended to ``steps``; returns their sum."""
    workdirs = [Path(tempfile.mkdtemp(dir=scratch, prefix="hand-")) for _ in range(2)]
    try:
        start = time.perf_counter()
        first = buildah(context, workdirs[0])
        buildah(context, workdirs[1])
        built = time.perf_counter()
        run([SYFT, "scan", f"oci-dir:{first}", "-o", f"cyclonedx-json={workdirs[0] / 'sbom.json'}", "-q"])
        scanned = time.perf_counter()
        run([
            "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
            f"oci:{first}:app", f"docker://{registry.host}/{repository}:1.0",
        ])  # fmt: skip
        pushed = time.perf_counter()
    finally:
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
    for name, seconds in (
        ("buildah x2", built - start),
        ("syft", scanned - built),
        ("skopeo copy", pushed - scanned),
    ):
        steps.setdefault(name, []).append(seconds)
    return pushed - start


def release_argv(context: Path, key: Path, target: str, engine_args: list[str]) -> list[str]:
    return [
        *REPRO,
        "release",
        str(context),
        "--image",
        target,
        "--key",
        str(key),
        "--push",
        target,
        *engine_args,
    ]


def releases_at_once(argvs: list[list[str]], env: dict[str, str], cwd: Path) -> float:
    """Start every release together; the wall time until the last one has finished."""
    start = time.perf_counter()
    processes = [
        subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    failures = []
    for process, argv in zip(processes, argvs, strict=True):
        _, stderr = process.communicate()
        if process.returncode != 0:
            failures.append(f"{' '.join(argv[3:6])}… exit {process.returncode}:\n{stderr[-2000:]}")
    elapsed = time.perf_counter() - start
    if failures:
        sys.exit("bench: release failed:\n" + "\n".join(failures))
    return elapsed


@contextmanager
def remote_daemon(scratch: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """A test-bed dockerd listening on tcp:// with TLS: the engine flags and environment."""
    with start_docker_daemon(scratch / "dockerd", tls=True) as daemon:
        assert daemon.tcp_host is not None
        config = scratch / "remote.toml"
        # The test-bed daemon has no bridge network: RUN steps use the host's.
        config.write_text(f'[engines.docker]\nnetwork = "host"\nclient = "{DOCKER_CLIENT}"\n')
        env = {**daemon.environment(tls=True), "REPRO_CONFIG": str(config)}
        yield ["--engine", "docker", "--docker-host", daemon.tcp_host], env


def print_versus_by_hand(case: str, hand: Spread, release: Spread, steps: dict[str, list[float]]) -> None:
    per_round = ratio(release, hand)
    parts = ", ".join(f"{name} {Spread(tuple(values)).median:.1f} s" for name, values in steps.items())
    print(f"\n{case}: repro release vs by hand ({parts}; medians)")
    print(f"  {'by hand':<22} {hand}")
    print(f"  {'repro release':<22} {release}")
    verdict = "met" if per_round.median <= GOAL else "NOT met"
    print(f"  {'release / by hand':<22} {per_round}  (goal ≤ {GOAL}x: {verdict})")


def print_concurrency(label: str, walls: dict[int, Spread]) -> None:
    one = walls[min(walls)]
    print(f"\n{label}: N busybox releases at once")
    print(f"  {'N':>2}  {'wall time':<54} {'per image (median)':>19}  wall / one image")
    for n, wall in walls.items():
        print(f"  {n:>2}  {wall!s:<54} {wall.median / n:>17.2f} s  {ratio(wall, one)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="release vs by hand: comma-separated, or ''")
    parser.add_argument("--concurrency", default="1,2,4", help="N images at once: comma-separated, or ''")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--no-remote", action="store_true", help="skip the remote docker daemon (tcp:// + TLS)"
    )
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    counts = sorted({int(n) for n in args.concurrency.split(",") if n})
    if any(n < 1 for n in counts):
        parser.error("--concurrency: counts of at least 1")

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
                "NO_COLOR": "1",
            }
            counter = Counter()
            print(f"{os.cpu_count()} CPUs; {args.rounds} interleaved round(s); figures: median (min, max)")

            for case in cases:
                context = make_case(case, scratch / "contexts" / case, images)
                buildah(context, Path(tempfile.mkdtemp(dir=scratch)))  # warm the page cache, untimed
                steps: dict[str, list[float]] = {}

                def hand(context: Path = context, steps: dict[str, list[float]] = steps) -> float:
                    return by_hand(context, scratch, registry, f"hand-{counter.next()}", steps)

                def release(context: Path = context) -> float:
                    target = f"{registry.host}/release-{counter.next()}:1.0"
                    return releases_at_once([release_argv(context, key, target, [])], env, scratch)

                times = interleaved_measured(args.rounds, {"by hand": hand, "repro release": release})
                print_versus_by_hand(case, times["by hand"], times["repro release"], steps)

            if not counts:
                return 0
            apps = [
                make_case("busybox", scratch / "apps" / f"app{i}", images, f"hello {i}")
                for i in range(max(counts))
            ]

            def at_once(n: int, engine_args: list[str], engine_env: dict[str, str]) -> Callable[[], float]:
                def action() -> float:
                    argvs = [
                        release_argv(app, key, f"{registry.host}/at-once-{counter.next()}:1.0", engine_args)
                        for app in apps[:n]
                    ]
                    return releases_at_once(argvs, {**env, **engine_env}, scratch)

                return action

            local = interleaved_measured(args.rounds, {str(n): at_once(n, [], {}) for n in counts})
            print_concurrency("buildah on this machine", {int(n): s for n, s in local.items()})
            if args.no_remote:
                return 0
            print("starting a docker daemon with a TLS listener (not measured)…", file=sys.stderr)
            with remote_daemon(scratch) as (engine_args, engine_env):
                at_once(1, engine_args, engine_env)()  # the daemon's first build warms its state, untimed
                remote = interleaved_measured(
                    args.rounds, {str(n): at_once(n, engine_args, engine_env) for n in counts}
                )
                print_concurrency(
                    "--engine docker on a daemon over tcp:// with TLS", {int(n): s for n, s in remote.items()}
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
