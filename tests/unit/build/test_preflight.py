"""Unpinned images are refused before any engine runs, each named by file:line."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from repro.build import BuildSpec, UnpinnedImageError, find_unpinned, prepare
from repro.cli import main
from repro.config import Config, RegistryConfig
from repro.dockerfile import build_stage_graph, parse
from repro.errors import EXIT_USAGE, ProcessError

DIGEST = "sha256:" + "ab" * 32


def context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


DOCKERFILE = (
    "ARG BASE=alpine:3.20\n"
    f"FROM debian:bookworm@{DIGEST} AS build\n"
    "RUN make\n"
    "FROM ${BASE}\n"
    "COPY --from=build /a /a\n"
    "COPY --from=busybox:1.36 /bin/busybox /bin/busybox\n"
    "FROM scratch\n"
    "COPY --from=registry.example.com/tools /t /t\n"
)


def test_each_unpinned_image_is_listed_with_its_line(tmp_path: Path) -> None:
    graph = build_stage_graph(parse(DOCKERFILE.encode(), filename="app/Dockerfile"))
    assert [str(u) for u in find_unpinned(graph)] == [
        "app/Dockerfile:4: FROM alpine:3.20",
        "app/Dockerfile:6: COPY --from busybox:1.36",
        "app/Dockerfile:8: COPY --from registry.example.com/tools",
    ]


def test_prepare_refuses_unpinned_and_says_to_pin(tmp_path: Path) -> None:
    ctx = context(tmp_path, DOCKERFILE)
    with pytest.raises(UnpinnedImageError) as info:
        prepare(BuildSpec(ctx, output=tmp_path / "out"), config=Config())
    assert "3 image(s) not pinned" in str(info.value)
    assert f"{ctx / 'Dockerfile'}:4: FROM alpine:3.20" in str(info.value)
    assert "repro pin" in info.value.hint
    assert info.value.exit_code == EXIT_USAGE


def test_allow_unpinned_records_them(tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM alpine:3.20\n")
    prepared = prepare(BuildSpec(ctx, allow_unpinned=True), config=Config())
    assert prepared.unpinned == (f"{ctx / 'Dockerfile'}:1: FROM alpine:3.20",)


def test_an_image_only_the_builder_can_name_is_not_taken_as_pinned(tmp_path: Path) -> None:
    ctx = context(tmp_path, "ARG BASE\nFROM ${BASE}\n")
    with pytest.raises(UnpinnedImageError, match=r"Dockerfile:2: FROM \$\{BASE\} \("):
        prepare(BuildSpec(ctx), config=Config())
    pinned = prepare(BuildSpec(ctx, build_args={"BASE": f"alpine@{DIGEST}"}), config=Config())
    assert pinned.unpinned == ()


def test_pinned_files_pass_and_registries_are_collected(tmp_path: Path) -> None:
    ctx = context(
        tmp_path,
        f"FROM 127.0.0.1:5000/busybox:latest@{DIGEST} AS b\nFROM scratch\nCOPY --from=b /x /x\n",
    )
    config = Config(registries={"127.0.0.1:5000": RegistryConfig(insecure=True)})
    prepared = prepare(BuildSpec(ctx), config=config, runner=_no_git)
    assert [(r.host, r.insecure) for r in prepared.registries] == [("127.0.0.1:5000", True)]
    assert prepared.epoch.source == "default"


def _no_git(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    raise ProcessError("git: program not found")


def test_cli_refuses_before_building(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = context(tmp_path, "FROM alpine:3.20\nRUN true\n")
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'out'}"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Dockerfile:1: FROM alpine:3.20" in err
    assert "hint: run 'repro pin'" in err
    assert not (tmp_path / "out").exists()


def test_cli_wants_an_oci_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = context(tmp_path, f"FROM alpine@{DIGEST}\n")
    assert main(["build", str(ctx)]) == EXIT_USAGE
    assert "the following arguments are required: -o/--output" in capsys.readouterr().err
    assert main(["build", str(ctx), "-o", str(tmp_path / "out")]) == EXIT_USAGE
    assert "oci:DIR[:TAG]" in capsys.readouterr().err


def test_missing_dockerfile_and_unknown_target(tmp_path: Path) -> None:
    from repro.errors import UsageError

    ctx = context(tmp_path, f"FROM alpine@{DIGEST} AS base\n")
    with pytest.raises(UsageError, match="Dockerfile not found"):
        prepare(BuildSpec(ctx, dockerfile=ctx / "Nope"), config=Config())
    with pytest.raises(UsageError, match="--target final"):
        prepare(BuildSpec(ctx, target="final"), config=Config())
