"""Benchmark resolving 200 tags: repro against the ``skopeo inspect`` loop a user would script.

Starts a plain Distribution registry (devtools.testbed), pushes one small image under 200
distinct tags (setup, not measured), then times, in the same run:

- ``RegistryClient.resolve_many`` in-process: with a new client (cold) and again on the
  same client (warm: pooled connections; a plain registry has no tokens to cache), and
  cold once more with ``max_concurrency = 16`` instead of the default;
- ``repro resolve REF…`` as one subprocess with all 200 references (Python start-up
  included);
- ``skopeo inspect --raw --tls-verify=false docker://REF`` once per reference,
  sequentially.

Each is measured twice: straight to the registry on loopback, and through
:class:`devtools.testbed.proxy.FaultProxy` adding ``--latency`` ms to every request,
because loopback hides the round trips that dominate against a real registry. The
goal is repro at least 25x faster than the skopeo loop, cold (median of the rounds).

Run: ``.venv/bin/python bench/resolve.py`` (about a minute; needs docker-registry and
skopeo on PATH).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import Spread, ratio  # noqa: E402
from devtools.testbed import start_plain_registry  # noqa: E402
from devtools.testbed.proxy import FaultProxy, Latency  # noqa: E402
from repro.config import Config, RegistryConfig  # noqa: E402
from repro.digest import Digest  # noqa: E402
from repro.oci import media  # noqa: E402
from repro.reference import ImageRef, parse_reference  # noqa: E402
from repro.registry import RegistryClient, Resolved  # noqa: E402

REPOSITORY = "bench/resolve"
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
GOAL = 25.0
#: A non-default per-registry concurrency, measured too to show what the setting buys.
WIDE = 16


@dataclass(frozen=True)
class Timing:
    label: str
    seconds: float
    requests: int | None = None  # HTTP requests the proxy saw, when there is one


def push_tags(host: str, count: int) -> Digest:
    """Push one small image under ``count`` tags; return its manifest digest."""
    layer = hashlib.sha256(b"repro bench layer").digest() * 64
    with RegistryClient(Config(registries={host: RegistryConfig(insecure=True)})) as client:
        for blob in (CONFIG, layer):
            client.push_blob(host, REPOSITORY, Digest.of(blob), io.BytesIO(blob), len(blob))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": media.OCI_MANIFEST,
                "config": {
                    "mediaType": media.OCI_CONFIG,
                    "digest": str(Digest.of(CONFIG)),
                    "size": len(CONFIG),
                },
                "layers": [
                    {"mediaType": media.OCI_LAYER_TAR, "digest": str(Digest.of(layer)), "size": len(layer)}
                ],
            }
        ).encode()
        for i in range(count):
            client.push_manifest(
                host, REPOSITORY, f"t{i:03d}", manifest, media.OCI_MANIFEST, verify_references=i == 0
            )
    return Digest.of(manifest)


def timed(function: Callable[[], None]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def check(results: dict[ImageRef, Resolved | Exception], digest: Digest, count: int) -> None:
    assert len(results) == count, f"{len(results)} results for {count} references"
    for ref, outcome in results.items():
        if not isinstance(outcome, Resolved):
            raise SystemExit(f"{ref.text}: {outcome}")
        assert outcome.digest == digest, f"{ref.text}: {outcome.digest} != {digest}"


def measure(
    host: str, digest: Digest, count: int, *, skopeo: bool, proxy: FaultProxy | None = None
) -> list[Timing]:
    texts = [f"{host}/{REPOSITORY}:t{i:03d}" for i in range(count)]
    refs = [parse_reference(text) for text in texts]
    config = Config(registries={host: RegistryConfig(insecure=True)})
    timings: list[Timing] = []

    def add(label: str, function: Callable[[], None]) -> None:
        before = len(proxy.requests) if proxy else 0
        seconds = timed(function)
        seen = len(proxy.requests) - before if proxy else None
        timings.append(Timing(label, seconds, seen))

    client = RegistryClient(config)
    try:
        add(
            "repro resolve_many, cold (new client)",
            lambda: check(dict(client.resolve_many(refs)), digest, count),
        )
        add(
            "repro resolve_many, warm (same client)",
            lambda: check(dict(client.resolve_many(refs)), digest, count),
        )
    finally:
        client.close()

    wide = RegistryClient(Config(registries={host: RegistryConfig(insecure=True, max_concurrency=WIDE)}))
    try:
        add(
            f"repro resolve_many, cold, max_concurrency={WIDE}",
            lambda: check(dict(wide.resolve_many(refs)), digest, count),
        )
    finally:
        wide.close()

    env = {**os.environ, "REPRO_INSECURE_REGISTRIES": host, "NO_COLOR": "1"}

    def cli() -> None:
        out = subprocess.run(
            [sys.executable, "-m", "repro", "resolve", *texts],
            check=True,
            capture_output=True,
            env=env,
            cwd=tempfile.gettempdir(),
        ).stdout.decode()
        lines = out.splitlines()
        assert len(lines) == count, out[-500:]
        assert all(line.endswith(str(digest)) for line in lines), lines[:3]

    add(f"repro resolve CLI, {count} refs, one process", cli)

    if skopeo:

        def loop() -> None:
            for text in texts:
                raw = subprocess.run(
                    ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{text}"],
                    check=True,
                    capture_output=True,
                ).stdout
                assert Digest.of(raw) == digest

        add(f"skopeo inspect --raw loop, {count} processes", loop)
    return timings


def report(title: str, rounds: list[list[Timing]], count: int) -> None:
    """Each case's spread over the rounds, and skopeo's time over repro's, per round."""
    print(f"\n{title} ({len(rounds)} interleaved rounds)")
    labels = [timing.label for timing in rounds[0]]
    spreads = {
        label: Spread(tuple(next(t.seconds for t in timings if t.label == label) for timings in rounds))
        for label in labels
    }
    for label, spread in spreads.items():
        seen = next(t.requests for t in rounds[0] if t.label == label)
        requests = f", {seen} requests" if seen is not None else ""
        print(f"  {label:<50} {spread}  ({spread.median / count * 1000:6.2f} ms/ref{requests})")
    skopeo = next((spreads[label] for label in labels if label.startswith("skopeo")), None)
    if skopeo is None:
        return
    for label, spread in spreads.items():
        if label.startswith("repro"):
            speedup = ratio(skopeo, spread)
            goal = ""
            if "cold" in label:
                goal = f"  (goal >= {GOAL:g}x median: {'met' if speedup.median >= GOAL else 'NOT met'})"
            print(f"  skopeo / {label:<50} {speedup}{goal}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tags", type=int, default=200, help="number of tags to resolve (default 200)")
    parser.add_argument(
        "--latency", type=float, default=20.0, help="ms the proxy adds per request (default 20)"
    )
    parser.add_argument("--no-skopeo", action="store_true", help="skip the skopeo loop")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="repro-bench-resolve-"))
    try:
        with start_plain_registry(workdir / "registry") as registry:
            started = time.perf_counter()
            digest = push_tags(registry.host, args.tags)
            print(
                f"setup: pushed {REPOSITORY} under {args.tags} tags to {registry.host} "
                f"in {time.perf_counter() - started:.1f} s (digest {digest.short})"
            )
            loopback = [
                measure(registry.host, digest, args.tags, skopeo=not args.no_skopeo)
                for _ in range(args.rounds)
            ]
            report(f"loopback ({registry.host})", loopback, args.tags)
            with FaultProxy(registry.url) as proxy:
                proxy.add(Latency(args.latency / 1000))
                delayed = [
                    measure(proxy.host, digest, args.tags, skopeo=not args.no_skopeo, proxy=proxy)
                    for _ in range(args.rounds)
                ]
            report(
                f"through a proxy adding {args.latency:g} ms per request ({proxy.host})", delayed, args.tags
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
