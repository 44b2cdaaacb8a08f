"""One redaction by name and by value shape, used by everything repro writes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from repro import redact
from repro.redact import REDACTED, looks_secret, redact_json, redact_mapping, redact_text, secret_kind

GITHUB = "ghp_" + "a1B2c3D4e5" * 4
GITLAB = "glpat-" + "x1Y2z3W4v5u6T7s8R9q0"
SLACK = "xoxb-1234567890-abcdefghijkl"
AWS = "AKIAIOSFODNN7EXAMPLE"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
NPMRC = "//registry.npmjs.org/:_authToken=0f8e7d6c-5b4a-3928-1716-05f4e3d2c1b0"
POSTGRES = "postgres://app:correct-horse@db.internal:5432/app"


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    yield
    redact.forget_all()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (GITHUB, "GitHub token"),
        (GITLAB, "GitLab token"),
        (SLACK, "Slack token"),
        (AWS, "AWS access key id"),
        (JWT, "JSON web token"),
        (NPMRC, "npm auth setting"),
        (POSTGRES, "URL with a password"),
        ("https://user:pw@example.com/x", "URL with a password"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc", "private key"),
        ("Bearer abcdefghijklmnopqrstuvwxyz0123", "authorization header"),
    ],
)
def test_credential_shapes_are_recognised_whatever_the_name(value: str, kind: str) -> None:
    assert secret_kind(value) == kind
    assert looks_secret("HARMLESS_NAME", value)
    assert redact_mapping({"HARMLESS_NAME": value})["HARMLESS_NAME"] == REDACTED
    hidden = redact_text(f"before {value} after")
    assert value not in hidden
    assert hidden.startswith("before ")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MY_PASS", "hunter2hunter2"),
        ("DB_PASSWORD", "x"),
        ("db_passwd", "letmein"),
        ("NPM_TOKEN", "abc"),
        ("CLIENT_SECRET", "s3cr3t-value"),
        ("API_KEY", "12345678"),
        ("GITHUB_PAT", "whatever"),
        ("SENTRY_DSN", "https://abc@sentry.example/1"),
        ("SSH_KEY", "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K"),
        ("SIGNING_KEY", "Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIz"),
    ],
)
def test_secret_names_with_real_values_look_secret(name: str, value: str) -> None:
    assert looks_secret(name, value)
    assert redact_mapping({name: value}) == {name: REDACTED}
    assert value not in redact_text(f"|2 {name}={value} /bin/sh -c make")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VERSION", "1.2.3"),
        ("BASE_IMAGE", "debian:bookworm"),
        ("HTTP_PROXY", "http://proxy:3128"),
        ("GPG_KEY", "A035C8C19219BA821ECEA86B64E628F8D684696D"),  # a public fingerprint
        ("DB_PASSWORD_FILE", "/run/secrets/db"),  # points at a secret
        ("TOKEN_URL", "https://auth.example/token"),
        ("BYPASS_CACHE", "1"),
        ("NPM_TOKEN", "$NPM_TOKEN"),
        ("AUTH_METHOD", "oidc"),
    ],
)
def test_ordinary_build_args_do_not_look_secret(name: str, value: str) -> None:
    assert not looks_secret(name, value)


def test_plain_values_survive_redaction() -> None:
    assert redact_mapping({"VERSION": "1.2.3", "HTTP_PROXY": "http://proxy:3128"}) == {
        "VERSION": "1.2.3",
        "HTTP_PROXY": "http://proxy:3128",
    }
    line = "|2 VERSION=1.2.3 TARGET=amd64 /bin/sh -c make install"
    assert redact_text(line) == line


def test_only_the_secret_part_of_a_url_is_hidden() -> None:
    assert (
        redact_text(f"connecting to {POSTGRES}")
        == f"connecting to postgres://{REDACTED}@db.internal:5432/app"
    )


def test_buildah_history_line_keeps_names_and_hides_values() -> None:
    line = f"|3 MY_PASS=hunter2hunter2 NPMRC={NPMRC} VERSION=2 /bin/sh -c npm ci"
    hidden = redact_text(line)
    assert "hunter2hunter2" not in hidden
    assert "0f8e7d6c" not in hidden
    assert "MY_PASS=" in hidden
    assert "VERSION=2" in hidden
    assert "npm ci" in hidden


def test_remembered_values_are_hidden_everywhere() -> None:
    text = "buildah: error: step failed: echo plain-looking-value-42"
    assert redact_text(text) == text
    redact.remember(["plain-looking-value-42", "ab"])  # too short to remember: "ab"
    assert redact_text(text) == f"buildah: error: step failed: echo {REDACTED}"
    assert redact_text("ab") == "ab"


def test_json_documents_are_redacted_in_every_string() -> None:
    doc = {"error": {"message": f"push to {POSTGRES} failed"}, "notes": [GITHUB], "n": 3}
    assert GITHUB not in json.dumps(redact_json(doc))
    assert "correct-horse" not in json.dumps(redact_json(doc))
    assert redact_json(doc)["n"] == 3


def test_logging_filter_hides_secrets_in_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redact.RedactingFilter())
    log = logging.getLogger("test_redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("running %s", f"buildah --build-arg MY_PASS=hunter2hunter2 --build-arg T={GITHUB}")
        try:
            raise ValueError(f"bad value {JWT}")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    output = stream.getvalue()
    assert "hunter2hunter2" not in output
    assert GITHUB not in output
    assert JWT not in output
    assert "MY_PASS=" in output
    assert "ValueError" in output
