"""A caching HTTP proxy for the Debian mirror (Debian's ``apt-cacher-ng``), so repeated
``apt-get install`` in test builds are fast and do not depend on the mirror's mood.

Builds reach it through ``http_proxy`` in the engine's environment: buildah hands the
proxy variables to RUN steps (``--http-proxy``, on by default) without recording them in
the image, its history or a layer. The cache directory persists across test sessions
(next to the Debian base image's cache); each running proxy holds a lock on its own
directory, so parallel sessions never share one.

    >>> with start_apt_cache() as cache:            # doctest: +SKIP
    ...     cache.proxy_environment()["http_proxy"]
    'http://127.0.0.1:40123/'
"""

from __future__ import annotations

import fcntl
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devtools.testbed.images import cache_dir
from devtools.testbed.registry import TestbedError

PROGRAM = "apt-cacher-ng"
DEBIAN_PACKAGE = "apt-cacher-ng"
START_TIMEOUT = 30.0
_SLOTS = 8
#: apt-cacher-ng 3.7 fails to bind a port above 32767 ("Error resolving address for
#: binding"), so the port is picked below that, where the kernel hands out none itself.
_PORTS = range(20000, 32768)


@dataclass(frozen=True)
class RunningAptCache:
    """A running apt-cacher-ng on loopback."""

    port: int
    directory: Path
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def proxy_environment(self) -> dict[str, str]:
        """What a build's environment needs: the proxy for http, and loopback (the test
        registries) never proxied."""
        no_proxy = "127.0.0.1,localhost"
        return {"http_proxy": self.url, "HTTP_PROXY": self.url, "no_proxy": no_proxy, "NO_PROXY": no_proxy}


def _free_port() -> int:
    for port in random.sample(_PORTS, 64):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise TestbedError(f"no free port for apt-cacher-ng in {_PORTS.start}..{_PORTS.stop - 1}")


def _config(directory: Path, port: int) -> str:
    # No Remap rules: the proxy caches plain URLs (http://deb.debian.org/debian/...), which
    # is all a Debian base image's sources.list asks for.
    return "\n".join(
        [
            f"CacheDir: {directory / 'cache'}",
            f"LogDir: {directory / 'log'}",
            "SupportDir: /usr/lib/apt-cacher-ng",
            f"SocketPath: {directory / 'socket'}",
            f"PidFile: {directory / 'pid'}",
            f"Port: {port}",
            "BindAddress: 127.0.0.1",
            "ForeGround: 1",
            "ExThreshold: 4",
            "",
        ]
    )


@contextmanager
def _slot(root: Path) -> Iterator[Path]:
    """A cache directory under ``root`` that no other running proxy uses (locked)."""
    root.mkdir(parents=True, exist_ok=True)
    for index in range(_SLOTS):
        directory = root / f"slot-{index}"
        directory.mkdir(exist_ok=True)
        handle: IO[str] = (directory / "lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield directory
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    raise TestbedError(f"all {_SLOTS} apt cache directories under {root} are in use")


def _wait_for(port: int, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TestbedError(f"apt-cacher-ng exited with {process.returncode}; see {log_file}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TestbedError(f"apt-cacher-ng did not listen on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s")


@contextmanager
def start_apt_cache(root: Path | None = None) -> Iterator[RunningAptCache]:
    """Run apt-cacher-ng until the block ends; its cache persists under ``root``
    (default: the test bed's cache directory)."""
    if shutil.which(PROGRAM) is None:
        raise TestbedError(f"{PROGRAM} is missing (Debian: apt-get install {DEBIAN_PACKAGE})")
    with _slot(root if root is not None else cache_dir() / "apt-cacher-ng") as directory:
        for sub in ("cache", "log", "conf"):
            (directory / sub).mkdir(exist_ok=True)
        port = _free_port()
        (directory / "conf" / "acng.conf").write_text(_config(directory, port))
        log_file = directory / "log" / "stdout.log"
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                [PROGRAM, "-c", str(directory / "conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            _wait_for(port, process, log_file)
            yield RunningAptCache(port=port, directory=directory, log_file=log_file)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
