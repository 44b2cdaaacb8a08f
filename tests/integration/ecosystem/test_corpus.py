"""Real applications, written the way projects write them, proved by ``repro verify``
with the real buildah on the Debian minbase base: apt, useradd and a non-root Python app,
locale-gen, pip in a venv with compileall, a static C binary; and on Debian bases with a
toolchain installed: a Go binary (golang-go), a jar (default-jdk-headless), ``npm ci`` as a
non-root user (nodejs, npm). Each case is reproducible as it is, with the ``--scrub``
profile the README's ecosystem table names, or — where the tool cannot be made
deterministic from outside — not reproducible with the culprit and its one-line fix.

The toolchains (~400-600 MB each) are installed once per machine by mmdebstrap
(:func:`devtools.testbed.images.push_debian_toolchain`, cached like the Debian base) rather
than by ``apt-get install`` in both builds of every case: apt installs are proved by the
apt cases, and a Go or JDK install in each build would take minutes. The bases are made
while the apt cases run.

The cases run two at a time (each verify runs its two builds concurrently), through
apt-cacher-ng. The README's ecosystem table lists the same cases and verdicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.testbed import BaseImages, RunningRegistry
from devtools.testbed.aptcache import RunningAptCache
from devtools.testbed.images import push_debian_toolchain
from repro.errors import EXIT_NOT_REPRODUCIBLE, EXIT_OK
from tests.programs import require_programs

pytestmark = [pytest.mark.buildah, pytest.mark.slow]

CASES_DIR = Path(__file__).parent / "cases"
EPOCH = 1_704_067_200
#: TLS to PyPI and npm: the machine's bundle (behind an intercepting proxy, only it works).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
WORKERS = 2
#: Placeholder in Dockerfile.in -> the Debian packages of its toolchain base image.
TOOLCHAINS: Mapping[str, tuple[str, ...]] = {
    "go": ("golang-go",),
    "jdk": ("default-jdk-headless",),
    "node": ("nodejs", "npm"),
}
#: Seconds the whole corpus may take with a warm apt cache (a cold one fetches ~400 MB).
BUDGET = 20 * 60
CASE_TIMEOUT = 30 * 60


@dataclass(frozen=True)
class Case:
    """One application; ``culprit``/``fix`` are what verify must report when it is not
    reproducible (None: reproducible)."""

    name: str
    #: "debian", or a key of TOOLCHAINS: the base image the Dockerfile's FROM names.
    base: str = "debian"
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
    Case("go-trimpath", base="go"),
    # Debian 12's jar (OpenJDK 17) ignores SOURCE_DATE_EPOCH: entry times are the clock's.
    Case("java-jar", base="jdk", culprit="archive-times", fix="pass --date=$(date -u -d @$SOURCE_DATE_EPOCH"),
    Case("java-jar-date", base="jdk"),
    Case("npm-ci", base="node", scrub=("auto",), ca_bundle=True),
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


def context(case: Case, destination: Path, base: str) -> Path:
    """The case's build context with ``{BASE}`` in its Dockerfile replaced by ``base``."""
    source = CASES_DIR / case.name
    destination.mkdir(parents=True)
    for path in source.iterdir():
        if path.name != "Dockerfile.in":
            (destination / path.name).write_bytes(path.read_bytes())
    template = (source / "Dockerfile.in").read_text()
    (destination / "Dockerfile").write_text(template.replace(f"{{{case.base}}}", base))
    return destination


def run_case(case: Case, base: Future[str], destination: Path, env: dict[str, str]) -> Outcome:
    ctx = context(case, destination, base.result())
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
    registry: RunningRegistry, base_images: BaseImages, apt_cache: RunningAptCache, tmp_path: Path
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
    require_programs("mmdebstrap", "skopeo")
    start = time.monotonic()
    debian: Future[str] = Future()
    debian.set_result(base_images.debian.pinned)
    with ThreadPoolExecutor(max_workers=len(TOOLCHAINS)) as makers, ThreadPoolExecutor(WORKERS) as pool:
        bases: dict[str, Future[str]] = {"debian": debian}
        for name, packages in TOOLCHAINS.items():
            bases[name] = makers.submit(
                lambda name, packages: push_debian_toolchain(registry, f"debian-{name}", packages).pinned,
                name,
                packages,
            )
        outcomes = list(
            pool.map(lambda case: run_case(case, bases[case.base], tmp_path / case.name, env), CASES)
        )
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
