"""``--secret`` in BuildKit's syntax, checked against the Dockerfile before any build."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from repro.build import BuildSpec, build
from repro.build.buildah import BuildahEngine
from repro.build.engine import BuildSecret, RunOptions
from repro.build.secrets import SecretError, check_secrets, parse_secret, parse_secrets
from repro.config import Config
from repro.dockerfile import parse
from tests.unit.build.fakes import FakeEngine

BASE = "busybox@sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id=tok,src=/s/tok", BuildSecret("tok", source=Path("/s/tok"))),
        ("id=tok,source=/s/tok", BuildSecret("tok", source=Path("/s/tok"))),
        ("type=file,id=tok,src=/s/tok", BuildSecret("tok", source=Path("/s/tok"))),
        ("id=tok,env=TOKEN", BuildSecret("tok", env="TOKEN")),
        ("type=env,id=tok,src=TOKEN", BuildSecret("tok", env="TOKEN")),
        ("id=GITHUB_TOKEN", BuildSecret("GITHUB_TOKEN", env="GITHUB_TOKEN")),
    ],
)
def test_buildkit_syntax(text: str, expected: BuildSecret) -> None:
    assert parse_secret(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("src=/s/tok", "the id is missing"),
        ("id=tok,src=/a,env=B", "not both"),
        ("id=tok,bogus=1", "expected id=ID"),
        ("tok", "expected id=ID"),
        ("id=tok,type=ssh", "type must be file or env"),
        ("type=file,id=tok", "type=file takes src=FILE"),
        ("id=tok,src=/a,source=/b", "given twice"),
    ],
)
def test_malformed_secrets_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(SecretError, match=message):
        parse_secret(text)


def test_an_id_given_twice_is_refused() -> None:
    with pytest.raises(SecretError, match="id=a given twice"):
        parse_secrets(["id=a,src=/x", "id=a,env=Y"])


def test_a_required_secret_that_was_not_given_names_each_line(tmp_path: Path) -> None:
    df = parse(
        f"FROM {BASE}\n"
        "RUN --mount=type=secret,id=npm,required=true npm ci\n"
        "RUN --mount=type=secret,id=optional true\n"
        "RUN --mount=type=secret,id=pip,required pip install\n".encode()
    )
    with pytest.raises(SecretError) as info:
        check_secrets(df, [], context=tmp_path, path="app/Dockerfile")
    assert str(info.value).splitlines() == [
        "the Dockerfile requires secret(s) that were not given: npm, pip",
        "  app/Dockerfile:2: RUN --mount=type=secret,id=npm,required=true",
        "  app/Dockerfile:4: RUN --mount=type=secret,id=pip,required=true",
    ]
    assert "--secret id=npm,src=FILE" in info.value.hint
    assert info.value.exit_code == 64


def test_sources_must_be_readable_and_variables_set(tmp_path: Path) -> None:
    df = parse(f"FROM {BASE}\n".encode())
    with pytest.raises(SecretError, match=r"id=a: cannot read .*missing"):
        check_secrets(df, [BuildSecret("a", source=tmp_path / "missing")], context=tmp_path / "ctx")
    with pytest.raises(SecretError, match="environment variable TOKEN is not set"):
        check_secrets(df, [BuildSecret("a", env="TOKEN")], context=tmp_path / "ctx", environ={})
    check_secrets(df, [BuildSecret("a", env="TOKEN")], context=tmp_path / "ctx", environ={"TOKEN": "x"})


def test_a_secret_file_inside_the_context_must_be_dockerignored(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "keys").mkdir(parents=True)
    (ctx / "keys" / "token").write_text("s3cr3t-value\n")
    df = parse(f"FROM {BASE}\nCOPY . /app\n".encode())
    secret = BuildSecret("tok", source=ctx / "keys" / "token")
    with pytest.raises(SecretError, match="inside the build context") as info:
        check_secrets(df, [secret], context=ctx)
    assert "add keys/token to .dockerignore" in info.value.hint
    (ctx / ".dockerignore").write_text("keys\n")
    check_secrets(df, [secret], context=ctx)  # left out: accepted


def test_the_engine_gets_the_secret_by_reference_never_its_value(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN --mount=type=secret,id=tok,required=true true\n")
    source = tmp_path / "token"
    source.write_text("s3cr3t-value\n")
    secrets = (BuildSecret("tok", source=source), BuildSecret("env", env="SOME_VAR"))
    backend = FakeEngine()
    with pytest.raises(SecretError, match="requires secret"):
        build(BuildSpec(ctx, output=tmp_path / "out"), config=Config(), engine=backend)
    assert backend.requests == []
    spec = BuildSpec(ctx, output=tmp_path / "out", secrets=secrets[:1])
    build(spec, config=Config(), engine=backend)
    assert backend.requests[0].secrets == secrets[:1]
    argv, _ = BuildahEngine().command(
        dataclasses.replace(backend.requests[0], secrets=secrets), RunOptions(workdir=tmp_path / "w")
    )
    assert argv[argv.index("--secret") : argv.index("--secret") + 4] == [
        "--secret",
        f"id=tok,src={source}",
        "--secret",
        "id=env,env=SOME_VAR",
    ]
    assert not any("s3cr3t" in arg for arg in argv)
