"""Benchmark ``repro sbom`` against syft 1.18 on the same OCI layouts, in the same run.

Images: the test bed's Debian minbase (one gzip layer, ~170 MB unpacked) and that image
extended with buildah (python3-requests, python3-pip, a pip-installed project, an npm
``package.json``, a purged package; uncompressed layers). Setup is untimed. Then, for each
image, ``repro sbom`` and ``syft … -o cyclonedx-json`` run as subprocesses (start-up
included) ``--runs`` times each, interleaved; the best and median wall times, their ratio,
and the package sets they found are printed.

Run: ``.venv/bin/python bench/sbom.py`` (needs buildah and the cached Debian minbase).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.testbed.images import DEBIAN_SUITE, debian_base  # noqa: E402
from tests.integration.test_sbom import build_extended_image  # noqa: E402

REPRO = ROOT / ".venv" / "bin" / "repro"
SYFT = ROOT / ".venv" / "bin" / "syft"


def timed(argv: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True).stdout
    return time.perf_counter() - start, out


def package_set(document: bytes) -> set[tuple[str, str, str]]:
    """(kind, name, version) of each package; the purl itself for deb (compared exactly)."""
    found = set()
    for component in json.loads(document).get("components", []):
        purl = component.get("purl", "")
        if purl.startswith("pkg:deb/"):
            found.add(("deb", purl, ""))
        elif purl.startswith(("pkg:pypi/", "pkg:npm/", "pkg:golang/", "pkg:maven/")):
            found.add((purl.split("/", 1)[0][4:], component["name"], component.get("version", "")))
    return found


def compare(label: str, layout: Path, tag: str, runs: int) -> float:
    repro_times, syft_times = [], []
    repro_out = syft_out = b""
    for _ in range(runs):
        elapsed, repro_out = timed([str(REPRO), "sbom", f"oci:{layout}:{tag}"])
        repro_times.append(elapsed)
        elapsed, syft_out = timed([str(SYFT), f"oci-dir:{layout}", "-o", "cyclonedx-json", "-q"])
        syft_times.append(elapsed)
    ratio = min(syft_times) / min(repro_times)
    print(f"\n== {label} ({layout})")
    print(f"repro sbom : best {min(repro_times):6.2f} s   median {statistics.median(repro_times):6.2f} s")
    print(f"syft       : best {min(syft_times):6.2f} s   median {statistics.median(syft_times):6.2f} s")
    print(
        f"syft / repro (best): {ratio:.2f}x   (median: {statistics.median(syft_times) / statistics.median(repro_times):.2f}x)"
    )
    ours, theirs = package_set(repro_out), package_set(syft_out)
    for kind in sorted({k for k, _, _ in ours | theirs}):
        a = {p for p in ours if p[0] == kind}
        b = {p for p in theirs if p[0] == kind}
        print(f"  {kind:7} repro {len(a):4}  syft {len(b):4}  both {len(a & b):4}")
        for extra in sorted(b - a)[:10]:
            print(f"    only syft : {extra[1]} {extra[2]}")
        for extra in sorted(a - b)[:10]:
            print(f"    only repro: {extra[1]} {extra[2]}")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each tool per image")
    args = parser.parse_args()
    base = debian_base()
    with tempfile.TemporaryDirectory(prefix="repro-bench-sbom-") as tmp:
        print("building the extended image with buildah (untimed)…", file=sys.stderr)
        extended, _ = build_extended_image(f"oci:{base.layout}:{DEBIAN_SUITE}", Path(tmp))
        ratios = [
            compare("Debian minbase", base.layout, DEBIAN_SUITE, args.runs),
            compare("minbase + requests, pip, npm, purge", extended, "ext", args.runs),
        ]
        shutil.rmtree(Path(tmp) / "context", ignore_errors=True)
    print(f"\ngoal: repro >= 2x faster than syft; got {', '.join(f'{r:.2f}x' for r in ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
