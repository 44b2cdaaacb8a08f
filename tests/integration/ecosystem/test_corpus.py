"""Real applications, written the way projects write them, proved by ``repro verify``
with the real buildah on the Debian minbase base: apt, useradd and a non-root Python app,
locale-gen, pip in a venv with compileall, a static C binary. Each case is reproducible as it is, with the
``--scrub`` profile the README's ecosystem table names, or — where the tool cannot be
made deterministic from outside — not reproducible with the culprit and its one-line fix.

The cases run two at a time (each verify runs its two builds concurrently), through
apt-cacher-ng. The README's ecosystem table lists the same cases and verdicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.testbed import BaseImages
from devtools.testbed.aptcache import RunningAptCache
from repro.errors import EXIT_NOT_REPRODUCIBLE, EXIT_OK
from tests.programs import require_programs

pytestmark = [pytest.mark.buildah, pytest.mark.slow]

CASES_DIR = Path(__file__).parent / "cases"
EPOCH = 1_704_067_200
#: TLS to PyPI and npm: the machine's bundle (behind an intercepting proxy, only it works).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
WORKERS = 2
#: Seconds the whole corpus may take with a warm apt cache (a cold one fetches ~400 MB).
BUDGET = 20 * 60
CASE_TIMEOUT = 30 * 60


@dataclass(frozen=True)
class Case:
    """One application; ``culprit``/``fix`` are what verify must report when it is not
    reproducible (None: reproducible)."""

    name: str
    scrub: tuple[str, ...] = ()
    ca_bundle: bool = False
    culprit: str | None = None
    fix: str = ""

    def argv(self, context: Path) -> list[str]:
        argv = [sys.executable, "-m", "repro", "verify", str(context), "--json"]
        for profile in self.scrub:
            argv += ["--scrub", profile]
        if self.ca_bundle:
            argv += ["--ca-bundle", str(HOST_CA_BUNDLE)]
        return argv


CASES = (
    Case("apt-clean", scrub=("auto",)),
    Case("apt-lists", scrub=("auto",)),
    Case("python-nonroot", scrub=("auto",)),
    Case("locale-gen", scrub=("auto",)),
    Case("pip-venv", scrub=("auto",), ca_bundle=True),
    Case("gcc-static"),
)


@dataclass(frozen=True)
class Outcome:
    case: Case
    returncode: int
    seconds: float
    report: Any
    stderr: str

    @property
    def reproducible(self) -> bool:
        return self.returncode == EXIT_OK

    def problem(self) -> str | None:
        """Why the outcome is not what the case expects, or None."""
        case = self.case
        if case.culprit is None:
            if self.returncode != EXIT_OK:
                return f"{case.name}: expected reproducible, exit {self.returncode}: {self._summaries()}"
            return None
        if self.returncode != EXIT_NOT_REPRODUCIBLE:
            return f"{case.name}: expected not reproducible ({case.culprit}), exit {self.returncode}"
        findings = (self.report.get("diff") or {}).get("findings", [])
        if not any(f["culprit"] == case.culprit and case.fix in f["fix"] for f in findings):
            return f"{case.name}: expected {case.culprit} with {case.fix!r}: {self._summaries()}"
        return None

    def _summaries(self) -> str:
        if not isinstance(self.report, dict):
            return self.stderr[-2000:]
        findings = (self.report.get("diff") or {}).get("findings", [])
        return "; ".join(f["summary"] for f in findings) or self.stderr[-2000:]


def context(case: Case, destination: Path, images: BaseImages) -> Path:
    assert images.debian is not None
    source = CASES_DIR / case.name
    destination.mkdir(parents=True)
    for path in source.iterdir():
        if path.name != "Dockerfile.in":
            (destination / path.name).write_bytes(path.read_bytes())
    template = (source / "Dockerfile.in").read_text()
    (destination / "Dockerfile").write_text(template.replace("{debian}", images.debian.pinned))
    return destination


def run_case(case: Case, ctx: Path, env: dict[str, str]) -> Outcome:
    start = time.monotonic()
    completed = subprocess.run(
        case.argv(ctx), env=env, capture_output=True, text=True, timeout=CASE_TIMEOUT, check=False
    )
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        report = None
    return Outcome(case, completed.returncode, time.monotonic() - start, report, completed.stderr)


def test_the_ecosystem_corpus_is_proved_as_the_readme_says(
    base_images: BaseImages, apt_cache: RunningAptCache, tmp_path: Path
) -> None:
    require_programs("buildah")
    if base_images.debian is None:
        pytest.skip("the test bed was started without the Debian image")
    env = {
        **os.environ,
        **apt_cache.proxy_environment(),
        "REPRO_INSECURE_REGISTRIES": base_images.host,
        "SOURCE_DATE_EPOCH": str(EPOCH),
    }
    contexts = {case.name: context(case, tmp_path / case.name, base_images) for case in CASES}
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = list(pool.map(lambda case: run_case(case, contexts[case.name], env), CASES))
    elapsed = time.monotonic() - start

    table = "\n".join(
        f"  {o.case.name:16} {'reproducible' if o.reproducible else 'not reproducible':17} {o.seconds:6.0f} s"
        for o in outcomes
    )
    print(f"ecosystem corpus in {elapsed:.0f} s:\n{table}")
    problems = [p for p in (o.problem() for o in outcomes) if p is not None]
    assert not problems, "\n".join(problems)
    proved = sum(o.reproducible for o in outcomes)
    assert proved / len(CASES) >= 0.9
    assert elapsed < BUDGET
