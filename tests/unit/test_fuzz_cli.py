"""Mutation fuzzing of every file repro reads, through the real CLI in-process.

Seed inputs (Dockerfiles, a repro.toml, an OCI layout's index.json, manifest and config)
are cut short, given random or invalid UTF-8 bytes and NULs, nested deeply and given huge
lines; ``repro.cli.main`` must answer each with a documented exit code and one clean
error line -- never a traceback, never the internal-error code 70.

Bounded: a fixed number of examples per target; under CI (``CI=true``) hypothesis is
derandomised (tests/conftest.py), so a run is repeatable.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro import errors
from repro.cli import main
from tests.unit.layers.layerkit import File, make_image

#: Every exit code the README documents, except "internal error" (a bug).
DOCUMENTED: frozenset[int] = frozenset(
    value
    for name, value in vars(errors).items()
    if name.startswith("EXIT_") and value != errors.EXIT_INTERNAL
)
EXAMPLES = 40
PINNED = "busybox@sha256:" + "ab" * 32

DOCKERFILES = [
    b"FROM " + PINNED.encode() + b'\nRUN echo hi\nUSER 65534\nCMD ["/bin/sh"]\n',
    (
        b"# syntax=docker/dockerfile:1\nARG BASE=" + PINNED.encode() + b"\nFROM ${BASE} AS build\n"
        b"RUN --mount=type=cache,target=/root/.cache \\\n    apk add --no-cache curl && \\\n    echo done\n"
        b"COPY <<EOF /etc/motd\nhello\nEOF\nFROM scratch\nCOPY --from=build /bin/sh /bin/sh\n"
        b'ENV A=1 B="two words"\nLABEL org.opencontainers.image.source="x"\nENTRYPOINT ["/bin/sh", "-c"]\n'
    ),
]
CONFIG = (
    b'timeout = 10\nlockfile = "repro.lock"\n[registries."127.0.0.1:5000"]\ninsecure = true\n'
    b'mirrors = ["127.0.0.1:5001/hub"]\n[policy]\ndisable = ["REPRO-LABEL-001"]\n'
    b'[policy.severity]\n"REPRO-CMD-001" = "error"\n'
)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, nest: tuple[bytes, bytes]) -> bytes:
    """``seed`` after one to three mutations."""
    data = seed
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["truncate", "insert", "utf8", "nul", "nest", "huge-line", "flip"]))
        if kind == "truncate":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
        elif kind == "utf8":
            data = (
                data[:at]
                + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80"]))
                + data[at:]
            )
        elif kind == "nul":
            data = data[:at] + b"\x00" * draw(st.integers(1, 4)) + data[at:]
        elif kind == "nest":
            depth = draw(st.sampled_from([50, 1_000, 20_000]))
            opening, closing = nest
            data = data[:at] + opening * depth + closing * depth + data[at:]
        elif kind == "huge-line":
            data = data[:at] + b"A" * draw(st.sampled_from([10_000, 300_000])) + b"\n" + data[at:]
        elif data:
            index = min(at, len(data) - 1)
            data = data[:index] + bytes([data[index] ^ (1 << draw(st.integers(0, 7)))]) + data[index + 1 :]
    return data


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code in DOCUMENTED, f"exit {code} for {argv}:\n{err[-2000:]}"
    assert "Traceback" not in err, err[-2000:]
    if code != errors.EXIT_OK:
        assert err.strip(), f"exit {code} for {argv} without a word on stderr"


_SETTINGS = settings(
    max_examples=EXAMPLES,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@_SETTINGS
@given(data=st.data())
def test_mutated_dockerfiles(data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = data.draw(st.sampled_from(DOCKERFILES))
    text = data.draw(mutated(seed, (b"${a:-", b"}")))
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    dockerfile = directory / "Dockerfile"
    dockerfile.write_bytes(text)
    (directory / "repro.toml").write_bytes(b"")
    _run(["policy", "check", str(dockerfile)], capsys)
    _run(["pin", "--check", str(dockerfile)], capsys)


@_SETTINGS
@given(data=st.data())
def test_mutated_configuration(
    data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = data.draw(mutated(CONFIG, (b"a = [", b"]")))
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    config = directory / "repro.toml"
    config.write_bytes(text)
    dockerfile = directory / "Dockerfile"
    dockerfile.write_bytes(DOCKERFILES[0])
    _run(["policy", "check", str(dockerfile), "--config", str(config)], capsys)


@pytest.fixture(scope="module")
def image_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout, _ = make_image(
        tmp_path_factory.mktemp("seed") / "img",
        [[File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'), File("var/lib/dpkg/status", b"")]],
        compress=True,
    )
    return layout.path


@_SETTINGS
@given(data=st.data())
def test_mutated_image_documents(
    data: st.DataObject, image_seed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = Path(tempfile.mkdtemp(dir=tmp_path)) / "img"
    shutil.copytree(image_seed, directory)
    index = json.loads((directory / "index.json").read_bytes())
    manifest_path = directory / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(manifest_path.read_bytes())
    config_path = directory / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]
    target = data.draw(st.sampled_from([directory / "index.json", manifest_path, config_path]))
    target.write_bytes(data.draw(mutated(target.read_bytes(), (b"[", b"]"))))
    _run(["sbom", f"oci:{directory}"], capsys)
