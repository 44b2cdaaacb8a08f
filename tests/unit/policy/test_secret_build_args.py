"""The release gate refuses a secret-looking build argument whose value the build recorded
in the image config, and says so without ever repeating the value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.attest.statements import redact_build_args
from repro.policy import ReleaseFacts, check_release
from repro.policy.input import LayerFacts

NPMRC = "//registry.npmjs.org/:_authToken=0f8e7d6c-5b4a-3928-1716-05f4e3d2c1b0"
POSTGRES = "postgres://app:correct-horse@db.internal:5432/app"
DOCKERFILE = "FROM busybox@sha256:" + "ab" * 32 + "\nARG {name}\nRUN make\nUSER 65534\n"


def facts_for(name: str, value: str, *, recorded: bool) -> ReleaseFacts:
    # What buildah 1.28 writes for a RUN that sees one build argument.
    created_by = f"|1 {name}={value} /bin/sh -c make" if recorded else "/bin/sh -c make"
    return ReleaseFacts(
        image_digest="sha256:" + "cd" * 32,
        image_config={
            "config": {"User": "65534", "Env": ["PATH=/usr/bin"]},
            "history": [{"created_by": created_by}],
        },
        layers=[LayerFacts("sha256:" + "ef" * 32, 100, created_by=created_by)],
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("MY_PASS", "hunter2hunter2"), ("NPMRC", NPMRC), ("DATABASE_URL", POSTGRES)],
)
def test_secret_build_arg_in_the_history_is_denied_by_name_only(
    tmp_path: Path, name: str, value: str
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DOCKERFILE.format(name=name))
    report = check_release(dockerfile, facts_for(name, value, recorded=True), build_args={name: value})
    denying = [f for f in report.findings if f.id == "REPRO-SECRET-004"]
    assert report.denied
    assert denying
    assert denying[0].denies
    assert name in denying[0].message
    assert "--secret" in denying[0].fix
    assert value not in json.dumps(report.to_json())
    assert "correct-horse" not in json.dumps(report.to_json())
    assert "0f8e7d6c" not in json.dumps(report.to_json())


def test_secret_build_arg_that_no_instruction_records_passes_the_gate(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DOCKERFILE.format(name="OTHER"))
    report = check_release(
        dockerfile,
        facts_for("MY_PASS", "hunter2hunter2", recorded=False),
        build_args={"MY_PASS": "hunter2hunter2"},
    )
    assert "REPRO-SECRET-004" not in {f.id for f in report.findings}


def test_plain_build_arg_in_the_history_passes_the_gate(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DOCKERFILE.format(name="VERSION"))
    report = check_release(
        dockerfile, facts_for("VERSION", "1.2.3", recorded=True), build_args={"VERSION": "1.2.3"}
    )
    assert "REPRO-SECRET-004" not in {f.id for f in report.findings}


@pytest.mark.parametrize(
    ("name", "value"),
    [("MY_PASS", "hunter2hunter2"), ("NPMRC", NPMRC), ("DATABASE_URL", POSTGRES)],
)
def test_provenance_build_args_never_carry_the_value(name: str, value: str) -> None:
    redacted = redact_build_args({name: value, "VERSION": "1"})
    assert value not in json.dumps(redacted)
    assert redacted["VERSION"] == "1"
