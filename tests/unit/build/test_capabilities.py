"""Dockerfile features an engine cannot honour are refused before any build, each by file:line."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import pytest

from repro.build import BuildSpec, build
from repro.build.buildah import BuildahEngine
from repro.build.capabilities import (
    FEATURES,
    Capabilities,
    UnsupportedFeatureError,
    check_capabilities,
    find_unsupported,
)
from repro.build.mounts import parse_mount, run_mounts
from repro.config import Config
from repro.dockerfile import parse
from repro.errors import EXIT_USAGE, DockerfileError
from tests.unit.build.fakes import FakeEngine

DIGEST = "sha256:" + "ab" * 32
BASE = f"busybox@{DIGEST}"

EVERY_FEATURE = f"""\
FROM {BASE} AS a
RUN <<EOF
echo hi
EOF
COPY <<EOF /x
hello
EOF
RUN --mount=type=secret,id=tok --mount=type=ssh --mount=type=cache,target=/c echo
RUN --mount=target=/m,from=a --mount=type=tmpfs,target=/t --network=none --security=insecure echo
ADD --checksum=sha256:{"cd" * 32} https://example.com/x /x
ADD https://github.com/moby/buildkit.git#v0.10.1 /src
ADD git@github.com:moby/buildkit.git /src2
ADD --keep-git-dir=true https://example.com/repo /src3
COPY --link --chmod=600 --parents --exclude=*.txt a b
HEALTHCHECK CMD true
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGKILL
ONBUILD RUN echo child
"""

ALL_FEATURES = {f.name for f in fields(Capabilities) if f.name != "engine"}


def test_every_feature_has_a_name_and_advice() -> None:
    assert set(FEATURES) == ALL_FEATURES
    for feature in FEATURES.values():
        assert feature.label
        assert feature.advice
        assert "(" not in feature.advice  # the message puts the advice in parentheses


def test_every_use_is_listed_in_file_order() -> None:
    df = parse(EVERY_FEATURE.encode(), filename="ignored")
    uses = find_unsupported(df, Capabilities(engine="nothing 1.0"), path="app/Dockerfile")
    assert [(u.line, u.feature) for u in uses] == [
        (2, "heredocs"),
        (5, "heredocs"),
        (8, "secrets"),
        (8, "ssh"),
        (8, "cache_mounts"),
        (9, "bind_mounts"),
        (9, "tmpfs_mounts"),
        (9, "run_network"),
        (9, "run_security"),
        (10, "add_checksum"),
        (11, "add_git"),
        (12, "add_git"),
        (13, "add_git"),
        (14, "copy_link"),
        (14, "copy_chmod"),
        (14, "copy_parents"),
        (14, "copy_exclude"),
        (15, "healthcheck"),
        (16, "shell"),
        (17, "stopsignal"),
        (18, "onbuild"),
    ]
    assert str(uses[0]) == (
        "app/Dockerfile:2: a heredoc (RUN <<EOF) is not supported by nothing 1.0 "
        "(write the script to a file in the build context, COPY it and RUN it)"
    )
    assert str(uses[9]).startswith("app/Dockerfile:10: ADD --checksum is not supported by nothing 1.0 (")


def test_an_engine_with_every_feature_accepts_everything() -> None:
    df = parse(EVERY_FEATURE.encode())
    everything = Capabilities(engine="all 1", **dict.fromkeys(ALL_FEATURES, True))
    check_capabilities(df, everything, path="Dockerfile")  # no exception
    assert set(everything.supported()) == ALL_FEATURES


def test_check_raises_one_error_listing_every_use_and_names_engines_that_would_work() -> None:
    df = parse(f"FROM {BASE}\nRUN <<EOF\ntrue\nEOF\nHEALTHCHECK CMD true\n".encode())
    other = Capabilities(engine="other 2.0", heredocs=True)
    with pytest.raises(UnsupportedFeatureError) as info:
        check_capabilities(df, Capabilities(engine="buildah 1.28.2"), path="D", alternatives=[other])
    message = str(info.value)
    assert message.splitlines() == [
        "2 Dockerfile features are not supported by buildah 1.28.2:",
        "  D:2: a heredoc (RUN <<EOF) is not supported by buildah 1.28.2 (write the script to a file "
        "in the build context, COPY it and RUN it; supported by other 2.0)",
        "  D:5: HEALTHCHECK is not supported by buildah 1.28.2 (set the check when the container runs: "
        "docker run --health-cmd …)",
    ]
    assert info.value.exit_code == EXIT_USAGE


def test_plain_copy_add_and_run_need_nothing() -> None:
    df = parse(
        f"FROM {BASE}\nCOPY --from=x --chown=1:1 a /a\nADD https://example.com/f.tar.gz /f\n"
        'ADD archive.tar /\nRUN echo hi\nCMD ["sh"]\n'.encode()
    )
    assert find_unsupported(df, Capabilities(engine="bare 0")) == []


def test_a_heredoc_inside_an_onbuild_trigger_is_not_this_builds_concern() -> None:
    df = parse(f"FROM {BASE}\nONBUILD RUN <<EOF\ntrue\nEOF\n".encode())
    assert [u.feature for u in find_unsupported(df, Capabilities(engine="e 1"))] == ["onbuild"]


def test_mounts_are_read_as_buildkit_reads_them() -> None:
    secret = parse_mount("type=secret,id=tok,required=true", line=3)
    assert (secret.type, secret.id, secret.target, secret.required) == (
        "secret",
        "tok",
        "/run/secrets/tok",
        True,
    )
    by_target = parse_mount("type=secret,target=/etc/token", line=3)
    assert (by_target.id, by_target.target, by_target.required) == ("token", "/etc/token", False)
    bind = parse_mount('"target=/m,x",from=build,source=/out', line=1)
    assert (bind.type, bind.target, bind.from_, bind.source) == ("bind", "/m,x", "build", "/out")
    assert parse_mount("TYPE=Cache,Target=/c", line=1).type == "cache"
    assert parse_mount("type=secret,id=a,required", line=1).required
    with pytest.raises(DockerfileError, match="Dockerfile:7: unsupported mount type 'volume'"):
        parse_mount("type=volume,target=/v", line=7)
    with pytest.raises(DockerfileError, match="not a boolean"):
        parse_mount("type=secret,id=a,required=maybe", line=7)
    ins = parse(b"FROM x\nRUN --mount=type=cache,target=/a --mount=type=tmpfs,target=/b true\n").instructions[
        1
    ]
    assert [m.type for m in run_mounts(ins)] == ["cache", "tmpfs"]


def test_buildah_declares_what_was_measured() -> None:
    def runner(argv: Sequence[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(list(argv), 0, b"buildah version 1.28.2 (image-spec 1.1.0)\n", b"")

    caps = BuildahEngine(runner=runner).capabilities()
    assert caps.engine == "buildah 1.28.2"
    assert set(caps.supported()) == {
        "secrets",
        "cache_mounts",
        "bind_mounts",
        "tmpfs_mounts",
        "stopsignal",
        "copy_chmod",
        "healthcheck",
        "shell",
        "onbuild",
        "build_contexts",
    }


def test_build_refuses_before_the_engine_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nCOPY <<EOF /greeting\nhello\nEOF\n")
    backend = FakeEngine()
    with pytest.raises(UnsupportedFeatureError, match=r"Dockerfile:2: a heredoc \(COPY <<EOF\)"):
        build(BuildSpec(ctx, output=tmp_path / "out"), config=Config(), engine=backend)
    assert backend.requests == []
    assert not (tmp_path / "out").exists()
