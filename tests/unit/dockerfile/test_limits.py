"""Hostile Dockerfiles: linear time in the size, bounded nesting, a size limit, no hang."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from repro.dockerfile import MAX_DOCKERFILE_BYTES, build_stage_graph, parse, read_dockerfile
from repro.errors import DockerfileError


def _cpu_seconds(data: bytes) -> float:
    started = time.process_time()
    build_stage_graph(parse(data), {})
    return time.process_time() - started


SHAPES: dict[str, Callable[[int], bytes]] = {
    "lines": lambda n: b"FROM debian:bookworm\n" + b"RUN echo hello world && true\n" * n,
    "froms": lambda n: (
        b"FROM debian:bookworm AS s0\n"
        + b"".join(b"FROM debian:bookworm AS s%d\nCOPY --from=s0 /a /a\n" % i for i in range(1, n))
    ),
    "args": lambda n: b"".join(b"ARG A%d=x%d\n" % (i, i) for i in range(n)) + b"FROM debian:${A1}\n",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_time_grows_linearly_with_the_file(shape: str) -> None:
    make = SHAPES[shape]
    small, large = make(2_000), make(16_000)
    _cpu_seconds(small)  # warm up
    ratio = _cpu_seconds(large) / max(_cpu_seconds(small), 1e-3)
    # Eight times the input: linear is ~8, quadratic ~64; leave room for noise.
    assert ratio < 20, f"{shape}: {ratio:.1f}x the time for 8x the input"


def test_deep_nesting_is_a_clean_error() -> None:
    nested = b"ARG X=" + b"${a:-" * 5000 + b"x" + b"}" * 5000 + b"\nFROM busybox\n"
    with pytest.raises(DockerfileError):
        build_stage_graph(parse(nested), {})
    brackets = b"FROM busybox\nRUN " + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    with pytest.raises(DockerfileError, match="Dockerfile:2"):
        parse(brackets)


def test_size_limit_and_special_files(tmp_path: Path) -> None:
    big = tmp_path / "Dockerfile"
    big.write_bytes(b"FROM busybox\n" + b"#" * MAX_DOCKERFILE_BYTES)
    with pytest.raises(DockerfileError, match="larger than 8 MiB"):
        read_dockerfile(big)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(DockerfileError, match="a FIFO, not a regular file"):
        read_dockerfile(fifo)
    with pytest.raises(DockerfileError, match="a device, not a regular file"):
        read_dockerfile("/dev/zero")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(DockerfileError, match="a symbolic link to a missing file"):
        read_dockerfile(tmp_path / "dangling")
