"""Benchmark ``repro sbom`` against syft 1.18 on the same OCI layouts, in the same run.

Images: the test bed's Debian minbase (one gzip layer, ~170 MB unpacked) and that image
extended with buildah (python3-requests, python3-pip, a pip-installed project, an npm
``package.json``, a purged package; uncompressed layers). Setup is untimed. Then, for each
image, ``repro sbom`` and ``syft … -o cyclonedx-json`` run as subprocesses (start-up
included) in ``--rounds`` interleaved rounds; min/median/max wall times, the per-round
ratio's spread, and the package sets they found are printed.

Run: ``.venv/bin/python bench/sbom.py`` (needs buildah and the cached Debian minbase).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import Ratio, interleaved, ratio  # noqa: E402
from devtools.testbed.images import DEBIAN_SUITE, debian_base  # noqa: E402
from tests.integration.test_sbom import build_extended_image  # noqa: E402

REPRO = ROOT / ".venv" / "bin" / "repro"
SYFT = ROOT / ".venv" / "bin" / "syft"


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


def compare(label: str, layout: Path, tag: str, runs: int) -> Ratio:
    outputs: dict[str, bytes] = {}

    def run(name: str, argv: list[str]) -> None:
        outputs[name] = subprocess.run(argv, check=True, capture_output=True).stdout

    times = interleaved(
        runs,
        {
            "repro": lambda: run("repro", [str(REPRO), "sbom", f"oci:{layout}:{tag}"]),
            "syft": lambda: run("syft", [str(SYFT), f"oci-dir:{layout}", "-o", "cyclonedx-json", "-q"]),
        },
    )
    speedup = ratio(times["syft"], times["repro"])
    print(f"\n== {label} ({layout})")
    print(f"repro sbom : {times['repro']}")
    print(f"syft       : {times['syft']}")
    print(f"syft / repro: {speedup}")
    ours, theirs = package_set(outputs["repro"]), package_set(outputs["syft"])
    for kind in sorted({k for k, _, _ in ours | theirs}):
        a = {p for p in ours if p[0] == kind}
        b = {p for p in theirs if p[0] == kind}
        print(f"  {kind:7} repro {len(a):4}  syft {len(b):4}  both {len(a & b):4}")
        for extra in sorted(b - a)[:10]:
            print(f"    only syft : {extra[1]} {extra[2]}")
        for extra in sorted(a - b)[:10]:
            print(f"    only repro: {extra[1]} {extra[2]}")
    return speedup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds",
        "--runs",
        dest="runs",
        type=int,
        default=5,
        help="interleaved rounds per image (default 5)",
    )
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
    print(f"\ngoal: repro >= 3x faster than syft (median); got {', '.join(str(r) for r in ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
