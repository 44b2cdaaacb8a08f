"""Benchmark start-up: ``repro --version`` and ``repro pin --check`` on one Dockerfile.

These are what a developer waits for in a pre-commit hook, so nearly all of their time
is the interpreter starting and importing. Times, interleaved, against bare
``python -c pass`` (the floor no Python tool goes under):

- ``python -c pass``;
- ``repro --version``;
- ``repro pin --check DOCKERFILE`` on a one-line pinned Dockerfile (no registry: the
  check reads the file and its lock only).

The wall times say what a user waits for; on a loaded machine the CPU time (user +
system) of each run is the steadier figure. Bytecode is compiled first (as ``pip install`` does), so no run pays for compiling.
Goals: ``--version`` ≤ 0.08 s and ``pin --check`` ≤ 0.12 s. Run:
``.venv/bin/python bench/startup.py [--rounds 30]``.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import Spread, interleaved  # noqa: E402

PINNED = "FROM registry.example/busybox:1.36@sha256:" + "a" * 64 + "\nRUN true\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="REPRO",
        help="also time this repro executable (e.g. an older install)",
    )
    options = parser.parse_args()

    compileall.compile_dir(ROOT / "repro", quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    repro = Path(sys.executable).with_name("repro")
    with tempfile.TemporaryDirectory(prefix="repro-bench-startup-") as tmp:
        dockerfile = Path(tmp, "Dockerfile")
        dockerfile.write_text(PINNED)

        cpu: dict[str, list[float]] = {}

        def run(name: str, *argv: str) -> None:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(
                argv, env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            cpu.setdefault(name, []).append(used)

        cases: dict[str, Callable[[], None]] = {
            "python -c pass": lambda: run("python -c pass", sys.executable, "-c", "pass"),
            "repro --version": lambda: run("repro --version", str(repro), "--version"),
            "repro pin --check": lambda: run(
                "repro pin --check", str(repro), "pin", "--check", str(dockerfile), "--no-lock"
            ),
        }
        if options.baseline:
            compileall.compile_dir(options.baseline / "repro", quiet=1)
            old = [sys.executable, "-m", "repro"]
            old_env = {**env, "PYTHONPATH": str(options.baseline.resolve())}

            def run_old(name: str, *argv: str) -> None:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                subprocess.run(
                    [*old, *argv],
                    env=old_env,
                    cwd=tmp,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.setdefault(name, []).append(
                    after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                )

            cases["baseline --version"] = lambda: run_old("baseline --version", "--version")
            cases["baseline pin --check"] = lambda: run_old(
                "baseline pin --check", "pin", "--check", str(dockerfile), "--no-lock"
            )
        for action in cases.values():  # warm the page cache
            action()
        times = interleaved(options.rounds, cases)
    for name, spread in times.items():
        print(f"{name:20} wall {spread}")
        print(f"{'':20} CPU  {Spread(tuple(cpu[name][1:]))}")  # [1:]: not the warm-up run
    goals = {"repro --version": 0.08, "repro pin --check": 0.12}
    for name, goal in goals.items():
        verdict = "meets" if times[name].median <= goal else "misses"
        print(f"{name}: median {times[name].median * 1000:.0f} ms {verdict} the goal of {goal * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
