"""Benchmark ``repro pin`` against the loop a user would otherwise write around skopeo.

Starts a plain Distribution registry (devtools.testbed), pushes one small multi-platform
image under 200 tags (10 repositories x 20 tags), writes 300 Dockerfiles naming ~1000
external images (FROM, COPY --from, RUN --mount from=) over those 200 tags, and times,
in the same run:

- ``pin_paths`` called in-process, and ``repro pin`` as a subprocess (Python start-up
  included), each on a fresh copy of the unpinned tree;
- ``skopeo inspect --raw`` once per distinct reference, sequentially (what a shell loop
  does; it only resolves, it does not rewrite anything);
- ``repro pin --check --fresh`` on the pinned tree (warm: run once before timing).

Everything is measured twice: straight to the registry on loopback, and through a
threaded TCP proxy that delays each request by ``--latency`` ms, because loopback hides
round trips. Each is run once per round, every case in the same order (bench/stats.py),
and reported as min/median/max over the rounds, with the ratio to the skopeo loop taken
per round. Run: ``.venv/bin/python bench/pin.py`` (``--rounds 5`` for a tighter spread).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import Spread, ratio, timed  # noqa: E402
from devtools.testbed import RunningRegistry, start_plain_registry  # noqa: E402
from devtools.testbed.images import build_busybox_layouts, skopeo_copy  # noqa: E402
from repro.config import Config, RegistryConfig  # noqa: E402
from repro.pin import check_paths, pin_paths  # noqa: E402
from repro.reference import parse_reference  # noqa: E402
from repro.registry.client import RegistryClient  # noqa: E402

REPOSITORIES = 10
TAGS_PER_REPOSITORY = 20
FILES = 300
#: Issue 18's target for a cold pin through the 20 ms proxy: skopeo loop / repro.
GOAL = 25


# --- a latency-adding proxy -----------------------------------------------------------


class LatencyProxy:
    """Forwards TCP connections to ``target``; each chunk sent upstream waits ``delay`` s first.

    An HTTP request is one chunk (headers, and the small bodies pin sends), so every
    request pays about one ``delay``, as it would pay a round trip to a remote registry.
    """

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self.target = target
        self.delay = delay
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(128)
        self.port: int = self._server.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, upstream, self.delay), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, 0.0), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
        try:
            while data := source.recv(65536):
                if delay:
                    time.sleep(delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._server.close()


# --- set-up ---------------------------------------------------------------------------


def push_tags(registry: RunningRegistry, workdir: Path) -> list[str]:
    """One small two-platform index under 200 tags; returns ``repo:tag`` for each."""
    build_busybox_layouts(workdir)
    config = Config(registries={registry.host: RegistryConfig(insecure=True)})
    names: list[str] = []
    with RegistryClient(config) as client:
        for r in range(REPOSITORIES):
            repository = f"bench/r{r}"
            skopeo_copy(f"oci:{workdir / 'multi'}:latest", registry, f"{repository}:t0", all_images=True)
            index = client.get_manifest(parse_reference(f"{registry.host}/{repository}:t0"))
            names.append(f"{repository}:t0")
            for t in range(1, TAGS_PER_REPOSITORY):
                client.push_manifest(registry.host, repository, f"t{t}", index.data, index.media_type)
                names.append(f"{repository}:t{t}")
    return names


def write_tree(directory: Path, names: list[str], seed: int = 7) -> int:
    """300 Dockerfiles with ~1000 image references; returns the number of references."""
    rng = random.Random(seed)
    count = 0
    for i in range(FILES):
        lines = [f"FROM $HOST/{rng.choice(names)} AS build{i}", "RUN make"]
        count += 1
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice(["copy", "mount", "from"])
            name = rng.choice(names)
            if kind == "copy":
                lines.append(f"COPY --from=$HOST/{name} /bin/busybox /usr/local/bin/")
            elif kind == "mount":
                lines.append(f"RUN --mount=type=bind,from=$HOST/{name},target=/m ls /m")
            else:
                lines.append(f"FROM $HOST/{name}")
                lines.append(f"COPY --from=build{i} /out /out")
            count += 1
        path = directory / f"svc{i // 10:02d}" / f"Dockerfile.{i}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return count


def instantiate(template: Path, target: Path, host: str) -> None:
    """Copy the tree with ``$HOST`` replaced, plus a repro.toml marking the host insecure."""
    if target.exists():
        shutil.rmtree(target)
    for source in template.rglob("*"):
        if source.is_file():
            destination = target / source.relative_to(template)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(source.read_text().replace("$HOST", host))
    (target / "repro.toml").write_text(f'[registries."{host}"]\ninsecure = true\n')


# --- timing ---------------------------------------------------------------------------


def cli(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, "-m", "repro", *args], capture_output=True, env=env, check=False, cwd=ROOT
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"repro {' '.join(args)}: exit {completed.returncode}\n{completed.stderr.decode()[-2000:]}"
        )


def skopeo_loop(host: str, names: list[str]) -> None:
    for name in names:
        subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{host}/{name}"],
            capture_output=True,
            check=True,
        )


def measure(label: str, host: str, template: Path, work: Path, names: list[str]) -> dict[str, float]:
    """One round: every case once, in the same order; seconds per case."""
    config = Config(registries={host: RegistryConfig(insecure=True)})
    work = Path(tempfile.mkdtemp(dir=work, prefix=f"{label}-"))
    tree = work / f"{label}-lib"
    instantiate(template, tree, host)

    def library_pin() -> None:
        with RegistryClient(config) as client:
            report = pin_paths([tree], client=client)
        assert report.changes

    results = {"pin (library)": timed(library_pin)}
    cli_tree = work / f"{label}-cli"
    instantiate(template, cli_tree, host)
    results["pin (CLI subprocess)"] = timed(lambda: cli("pin", str(cli_tree)))
    assert (cli_tree / "svc00" / "Dockerfile.0").read_text() == (tree / "svc00" / "Dockerfile.0").read_text()
    results["skopeo inspect --raw loop"] = timed(lambda: skopeo_loop(host, names))

    cli("pin", "--check", "--fresh", str(cli_tree))  # warm-up
    results["pin --check --fresh (CLI, warm)"] = timed(
        lambda: cli("pin", "--check", "--fresh", str(cli_tree))
    )

    def library_check() -> None:
        with RegistryClient(config) as client:
            assert check_paths([tree], client=client, fresh=True).exit_code == 0

    results["pin --check --fresh (library)"] = timed(library_check)
    results["pin --check (CLI, offline)"] = timed(lambda: cli("pin", "--check", str(cli_tree)))
    return results


@contextmanager
def proxy_for(registry: RunningRegistry, delay: float) -> Iterator[LatencyProxy]:
    proxy = LatencyProxy(("127.0.0.1", registry.port), delay)
    try:
        yield proxy
    finally:
        proxy.close()


def report(label: str, rounds: list[dict[str, float]], refs: int, distinct: int) -> None:
    """Each case's spread over the rounds, and the skopeo loop's time over repro's, per round."""
    print(
        f"\n== {label}: {FILES} files, {refs} image references, {distinct} distinct tags; {len(rounds)} rounds"
    )
    spreads = {name: Spread(tuple(r[name] for r in rounds)) for name in rounds[0]}
    for name, spread in spreads.items():
        print(f"  {name:34s} {spread}")
    loop = spreads["skopeo inspect --raw loop"]
    for name in ("pin (library)", "pin (CLI subprocess)"):
        print(f"  skopeo loop / {name:22s} {ratio(loop, spreads[name])}  (goal >= {GOAL:g}x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=20.0, help="ms added per request by the proxy")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="repro-bench-pin-") as tmp:
        work = Path(tmp)
        with start_plain_registry(work / "registry") as registry:
            print(
                f"registry at {registry.host}; pushing {REPOSITORIES * TAGS_PER_REPOSITORY} tags…", flush=True
            )
            names = push_tags(registry, work / "images")
            template = work / "template"
            refs = write_tree(template, names)
            used = sorted({line.split("$HOST/")[1].split()[0].split(",")[0]
                           for path in template.rglob("Dockerfile.*")
                           for line in path.read_text().splitlines() if "$HOST/" in line})  # fmt: skip
            loopback = [measure("loopback", registry.host, template, work, used) for _ in range(args.rounds)]
            report(f"loopback ({registry.host})", loopback, refs, len(used))
            with proxy_for(registry, args.latency / 1000) as proxy:
                proxied = [measure("proxied", proxy.host, template, work, used) for _ in range(args.rounds)]
                report(
                    f"through a {args.latency:g} ms/request proxy ({proxy.host})", proxied, refs, len(used)
                )


if __name__ == "__main__":
    main()
