"""Benchmark the normalisation cache: the share of ``repro verify`` spent normalising.

Starts a plain Distribution registry with the test bed's Debian minbase image (~170 MB,
one layer; setup, not measured) and a context on it (``FROM debian``, a COPY and a RUN),
then times ``verify`` in-process, interleaved:

- **no cache** (``--no-cache``, what every verify did before the cache): both builds
  normalise every layer, the base included;
- **warm cache** (primed by one untimed verify): both builds take every unchanged layer
  from the cache, checked (copied while its digest and diff ID are computed again);
- **edited** (a new COPY'd file each round, warm cache): the base layer comes from the
  cache, the changed layers are normalised: a developer's loop.

For each, the verify wall time and the seconds each build spent normalising (from the
build's "normalising" phase to its end), and their share of the two builds' time, as
min/median/max over the rounds. Run: ``.venv/bin/python bench/normcache.py [--rounds 5]``
(needs buildah, docker-registry, skopeo and mmdebstrap).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import Spread, interleaved  # noqa: E402
from devtools.testbed import push_base_images, start_plain_registry  # noqa: E402
from repro.build import BuildEvent, BuildSpec  # noqa: E402
from repro.config import load_config  # noqa: E402
from repro.reproduce.verify import verify  # noqa: E402

EPOCH = "1704067200"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="repro-bench-normcache-") as tmp:
        scratch = Path(tmp)
        print("setting up the registry and the Debian base image (not measured)…", file=sys.stderr)
        with start_plain_registry(scratch / "registry") as registry:
            images = push_base_images(registry, workdir=scratch / "images", debian=True)
            assert images.debian is not None
            os.environ["REPRO_INSECURE_REGISTRIES"] = registry.host
            os.environ["SOURCE_DATE_EPOCH"] = EPOCH
            context = scratch / "context"
            context.mkdir()
            (context / "Dockerfile").write_text(
                f"FROM {images.debian.pinned}\nCOPY note.txt /note.txt\nRUN echo built > /built\n"
            )
            (context / "note.txt").write_text("0\n")
            config = dataclasses.replace(load_config(context), cache_dir=scratch / "cache")
            normalising: dict[str, list[float]] = {}
            shares: dict[str, list[float]] = {}

            def run(name: str, *, no_cache: bool, edit: bool = False) -> Callable[[], None]:
                def action() -> None:
                    if edit:
                        note = context / "note.txt"
                        note.write_text(str(int(note.read_text()) + 1) + "\n")
                    started: dict[str, float] = {}

                    def progress(event: BuildEvent) -> None:
                        if event.kind == "phase" and event.text == "normalising":
                            started[event.build] = event.elapsed

                    result = verify(BuildSpec(context, no_cache=no_cache), config=config, progress=progress)
                    if not result.reproducible:
                        sys.exit(f"{name}: not reproducible")
                    spent = [
                        b.duration - started[label] for b, label in zip(result.builds, "AB", strict=True)
                    ]
                    normalising.setdefault(name, []).append(sum(spent))
                    shares.setdefault(name, []).append(sum(spent) / sum(b.duration for b in result.builds))

                return action

            cases = {
                "no cache": run("no cache", no_cache=True),
                "warm cache": run("warm cache", no_cache=False),
                "edited, warm cache": run("edited, warm cache", no_cache=False, edit=True),
            }
            for action in cases.values():  # untimed: primes the cache and the page cache
                action()
            normalising.clear()
            shares.clear()
            times = interleaved(options.rounds, cases)

    print(f"{os.cpu_count()} CPUs; repro verify of a Debian app (170 MB base layer), {options.rounds} rounds")
    for name, spread in times.items():
        print(f"{name}:")
        print(f"  verify wall            {spread}")
        print(f"  normalising (A + B)    {Spread(tuple(normalising[name]))}")
        share = Spread(tuple(shares[name]))
        print(
            f"  share of build time    median {share.median:.0%} (min {share.min:.0%}, max {share.max:.0%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
