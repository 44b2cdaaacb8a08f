"""Benchmark ``repro verify`` against what a user would run by hand: two plain buildah builds.

Starts a plain Distribution registry (devtools.testbed) with the busybox and Debian base
images (setup, not measured), then for each build context of
``tests/integration/assets`` times, in the same run:

- **buildah x2**: two sequential ``buildah build`` runs with the reproducible recipe
  (``--isolation chroot --layers --no-cache --pull=always --tls-verify=false --timestamp
  SDE --identity-label=false``), each in fresh vfs storage of its own: the same engine
  work repro does, without copying contexts, normalising, comparing or diffing;
- **repro verify**: the CLI as a subprocess (Python start-up included): two builds
  (concurrent on ≥ 2 CPUs), normalisation of both, the comparison;
- **repro verify --sequential**: the same with the builds one after the other, to show
  what running them concurrently buys.

Every case runs once per round, in the same order (bench/stats.py); each time is
reported as min/median/max over the rounds, and the ratio ``repro verify / buildah x2``
per round; the goal is ≤ 1.1.

The ecosystem cases ``pip-venv`` and ``npm-ci`` (``tests/integration/ecosystem/cases``)
fetch from PyPI and the npm registry during the build, through this machine's CA bundle:
repro verify gets ``--scrub auto --ca-bundle``, and the plain builds get what a user would
pass by hand for the same work — the bundle as a ``--volume`` and SOURCE_DATE_EPOCH and
the CA variables as declared build arguments (the Dockerfile copy gains the ``ARG`` line).
``npm-ci`` builds on Debian with nodejs and npm (made once per machine by mmdebstrap, not
measured).

The **two-platform case** builds a busybox multi-stage Dockerfile whose RUN steps run on
linux/amd64 and, under qemu-user-static, linux/arm64 (the test bed's ``busybox-multi``
base), and times in the same rounds: two plain ``buildah build --platform …`` runs, one
per platform, against ``repro build --platform linux/amd64,linux/arm64`` (the same engine
work, plus normalising and the index; goal ≤ 1.1) and ``repro verify --platform …``
(each platform built twice). ``--no-two-platform`` skips it.

Run: ``.venv/bin/python bench/verify.py`` (about 3 minutes; needs buildah, docker-registry,
skopeo, mmdebstrap and busybox-static). ``--cases busybox-app`` for a quick run,
``--rounds 5`` for a tighter spread.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import Spread, interleaved_measured, ratio  # noqa: E402
from devtools.testbed import RunningRegistry, push_base_images, start_plain_registry  # noqa: E402
from devtools.testbed.images import push_debian_toolchain  # noqa: E402
from devtools.testbed.multiarch import push_multiarch_busybox  # noqa: E402
from repro.build.runenv import declare_args, run_variables  # noqa: E402
from repro.layers.leftovers import CA_BUNDLE_MOUNT  # noqa: E402
from tests.integration.assets import make_context  # noqa: E402

GOAL = 1.1
EPOCH = "1704067200"
#: Context name -> extra ``repro verify`` arguments (the apt example needs scrubbing to
#: be reproducible; the plain builds do the same engine work either way).
CASES: dict[str, list[str]] = {
    "busybox-app": [],
    "multi-stage": [],
    "apt-curl": ["--scrub", "apt,dpkg-log,ldconfig"],
}
REPRO = [sys.executable, "-m", "repro"]

# -- the ecosystem cases (pip and npm) ----------------------------------------------------------

ECOSYSTEM_DIR = ROOT / "tests" / "integration" / "ecosystem" / "cases"
#: TLS to PyPI and npm from inside a build: this machine's trust store (see README, --ca-bundle).
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
#: Ecosystem case -> the placeholder its Dockerfile.in names for its base image.
ECOSYSTEM: dict[str, str] = {"pip-venv": "debian", "npm-ci": "node"}
NODE_PACKAGES = ("nodejs", "npm")
for _name in ECOSYSTEM:
    CASES[_name] = ["--scrub", "auto", "--ca-bundle", str(CA_BUNDLE)]


def ecosystem_context(case: str, destination: Path, base: str) -> Path:
    """The case's build context, its ``{debian}``/``{node}`` placeholder replaced by ``base``."""
    source = ECOSYSTEM_DIR / case
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("Dockerfile.in"))
    template = (source / "Dockerfile.in").read_text()
    (destination / "Dockerfile").write_text(template.replace(f"{{{ECOSYSTEM[case]}}}", base))
    return destination


def run_step_arguments(context: Path, workdir: Path) -> list[str]:
    """What a plain build needs for the same RUN steps as ``repro verify --ca-bundle``: a
    Dockerfile copy declaring the variables, their values, and the bundle mounted."""
    variables = run_variables(int(EPOCH), ca_bundle=True)
    dockerfile = workdir / "Dockerfile"
    dockerfile.write_bytes(declare_args((context / "Dockerfile").read_bytes(), variables))
    argv = ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE_MOUNT}:ro", "-f", str(dockerfile)]
    for name, value in variables.items():
        argv += ["--build-arg", f"{name}={value}"]
    return argv


def plain_buildah(
    context: Path, workdir: Path, platform: str | None = None, *, run_steps: bool = False
) -> None:
    """One build with the reproducible recipe, in fresh storage under ``workdir``, for
    ``platform`` if given; ``run_steps``: with the CA bundle and variables of
    :func:`run_step_arguments`."""
    argv = [
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
        "-t", f"oci:{workdir / 'out'}:bench",
        *(run_step_arguments(context, workdir) if run_steps else ["-f", str(context / "Dockerfile")]),
        *(["--platform", platform] if platform else []),
        str(context),
    ]  # fmt: skip
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def time_buildah_twice(context: Path, scratch: Path, run_steps: bool = False) -> float:
    """Two plain builds one after the other; the fresh storages' set-up and removal are not timed."""
    workdirs = [Path(tempfile.mkdtemp(dir=scratch, prefix="buildah-")) for _ in range(2)]
    try:
        start = time.perf_counter()
        for workdir in workdirs:
            plain_buildah(context, workdir, run_steps=run_steps)
        return time.perf_counter() - start
    finally:
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)


def time_repro_verify(context: Path, extra: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    completed = subprocess.run(
        [*REPRO, "verify", str(context), *extra], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(
            f"repro verify {context} failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}"
        )
    return elapsed


#: The two-platform case: RUN steps in both stages, so each platform runs its own busybox.
PLATFORMS = ("linux/amd64", "linux/arm64")
TWO_PLATFORM_DOCKERFILE = """\
FROM {base} AS build
RUN uname -m > /arch && echo "built on $(cat /arch)" > /built
FROM {base}
COPY --from=build /arch /built /
RUN echo "runs on $(uname -m)" > /runs
"""


def time_buildah_each_platform(context: Path, scratch: Path) -> float:
    """One plain build per platform, one after the other (what a user would run by hand)."""
    workdirs = [Path(tempfile.mkdtemp(dir=scratch, prefix="buildah-")) for _ in PLATFORMS]
    try:
        start = time.perf_counter()
        for workdir, platform in zip(workdirs, PLATFORMS, strict=True):
            plain_buildah(context, workdir, platform)
        return time.perf_counter() - start
    finally:
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)


def time_repro(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    completed = subprocess.run([*REPRO, *args], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"repro {' '.join(args)} failed ({completed.returncode}):\n{completed.stderr}")
    return elapsed


def two_platforms(
    scratch: Path, registry: RunningRegistry, env: dict[str, str], rounds: int
) -> dict[str, Spread]:
    """The two-platform case's times (see the module documentation)."""
    multi = push_multiarch_busybox(registry, scratch / "images")
    context = scratch / "contexts" / "two-platform"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(TWO_PLATFORM_DOCKERFILE.format(base=multi.image.pinned))
    listed = ",".join(PLATFORMS)
    output = f"oci:{scratch / 'two-platform-out'}"
    time_buildah_each_platform(context, scratch)  # untimed: page cache and emulator warmed alike
    return interleaved_measured(
        rounds,
        {
            "buildah x2 (one per platform)": partial(time_buildah_each_platform, context, scratch),
            "repro build --platform": partial(
                time_repro, ["build", str(context), "--platform", listed, "-o", output], env
            ),
            "repro verify --platform": partial(
                time_repro, ["verify", str(context), "--platform", listed], env
            ),
        },
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated (default: all)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--no-sequential", action="store_true", help="skip 'repro verify --sequential'")
    parser.add_argument(
        "--no-two-platform", action="store_true", help="skip the linux/amd64,linux/arm64 case"
    )
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    need_debian = any(c != "busybox-app" for c in cases)

    results: dict[str, dict[str, Spread]] = {}
    with tempfile.TemporaryDirectory(prefix="repro-bench-verify-") as tmp:
        scratch = Path(tmp)
        print("setting up the registry and base images (not measured)…", file=sys.stderr)
        with start_plain_registry(scratch / "registry") as registry:
            images = push_base_images(registry, workdir=scratch / "images", debian=need_debian)
            bases = {"debian": images.debian.pinned if images.debian is not None else ""}
            if "npm-ci" in cases:
                bases["node"] = push_debian_toolchain(registry, "debian-node", NODE_PACKAGES).pinned
            env = {
                **os.environ,
                "REPRO_INSECURE_REGISTRIES": registry.host,
                "SOURCE_DATE_EPOCH": EPOCH,
                "PYTHONPATH": str(ROOT),
            }
            for case in cases:
                destination = scratch / "contexts" / case
                if case in ECOSYSTEM:
                    context = ecosystem_context(case, destination, bases[ECOSYSTEM[case]])
                else:
                    context = make_context(case, destination, images)
                run_steps = case in ECOSYSTEM
                # one untimed run each, so that the page cache treats both alike
                time_buildah_twice(context, scratch, run_steps)
                measured: dict[str, Callable[[], float]] = {
                    "buildah x2": partial(time_buildah_twice, context, scratch, run_steps),
                    "repro verify": partial(time_repro_verify, context, CASES[case], env),
                }
                if not args.no_sequential:
                    sequential = [*CASES[case], "--sequential"]
                    measured["repro verify --sequential"] = partial(
                        time_repro_verify, context, sequential, env
                    )
                results[case] = interleaved_measured(args.rounds, measured)
                print(f"  {case}: done", file=sys.stderr)
            platforms = None if args.no_two_platform else two_platforms(scratch, registry, env, args.rounds)

    print(
        f"{os.cpu_count()} CPUs; {args.rounds} interleaved round(s); goal: repro verify / buildah x2 ≤ {GOAL}"
    )
    for case, times in results.items():
        print(f"\n{case}")
        for name, spread in times.items():
            print(f"  {name:<28} {spread}")
        per_round = ratio(times["repro verify"], times["buildah x2"])
        verdict = "" if per_round.median <= GOAL else "  (over the goal)"
        print(f"  {'repro verify / buildah x2':<28} {per_round}{verdict}")
    if platforms is not None:
        print(f"\ntwo platforms ({', '.join(PLATFORMS)}; arm64 under qemu-user-static)")
        for name, spread in platforms.items():
            print(f"  {name:<30} {spread}")
        plain = platforms["buildah x2 (one per platform)"]
        build = ratio(platforms["repro build --platform"], plain)
        verdict = "" if build.median <= GOAL else "  (over the goal)"
        print(f"  {'repro build / buildah x2':<30} {build}{verdict}")
        verify = ratio(platforms["repro verify --platform"], plain)
        print(f"  {'repro verify / buildah x2':<30} {verify}  (each platform built twice)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
