"""in-toto statements: golden JSON, determinism, redaction, builder identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.attest import statements
from repro.attest.statements import (
    CYCLONEDX_BOM,
    DEFAULT_BUILDER_ID,
    REDACTED,
    REPRODUCIBLE_V1,
    SLSA_PROVENANCE_V1,
    ReproducibilityInputs,
    Statement,
    builder_id,
    cyclonedx_statement,
    invocation_id,
    predicate_types,
    redact_build_args,
    reproducibility_statement,
    slsa_provenance,
)
from repro.errors import AttestationError, UsageError
from tests.unit.attest import fixtures

GOLDEN = Path(__file__).parent / "golden"

GHA_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "octo/app",
    "GITHUB_WORKFLOW_REF": "octo/app/.github/workflows/release.yml@refs/tags/v1.0.0",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_RUN_ATTEMPT": "2",
}


@pytest.fixture(autouse=True)
def _fixed_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statements, "__version__", "0.0.0+test")


def test_provenance_matches_golden_json() -> None:
    statement = slsa_provenance(fixtures.SUBJECTS, fixtures.PROVENANCE, env=fixtures.PLAIN_ENV)
    assert statement.to_bytes() == (GOLDEN / "provenance.json").read_bytes()


def test_reproducibility_matches_golden_json() -> None:
    statement = reproducibility_statement(fixtures.SUBJECTS, fixtures.REPRODUCIBILITY)
    assert statement.to_bytes() == (GOLDEN / "reproducible.json").read_bytes()
    assert statement.predicate_type == REPRODUCIBLE_V1


def test_cyclonedx_matches_golden_json() -> None:
    statement = cyclonedx_statement(fixtures.SUBJECTS, json.dumps(fixtures.SBOM).encode())
    assert statement.to_bytes() == (GOLDEN / "cyclonedx.json").read_bytes()
    assert statement.predicate_type == CYCLONEDX_BOM
    assert statement.predicate == fixtures.SBOM


def test_serialisation_is_canonical_and_round_trips() -> None:
    statement = slsa_provenance(fixtures.SUBJECTS, fixtures.PROVENANCE, env=fixtures.PLAIN_ENV)
    data = statement.to_bytes()
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    parsed = Statement.from_bytes(data)
    assert parsed.to_bytes() == data
    assert parsed.predicate_type == SLSA_PROVENANCE_V1
    assert parsed.names(fixtures.IMAGE)
    assert parsed.names(fixtures.INDEX)
    assert not parsed.names(fixtures.OTHER)


def test_subjects_are_the_manifest_and_the_index() -> None:
    obj = json.loads((GOLDEN / "provenance.json").read_bytes())
    assert [s["digest"]["sha256"] for s in obj["subject"]] == [fixtures.IMAGE.hex, fixtures.INDEX.hex]
    single = statements.image_subjects(fixtures.NAME, fixtures.IMAGE)
    assert len(single) == 1


def test_secret_build_args_are_redacted() -> None:
    redacted = redact_build_args(
        {
            "VERSION": "1",
            "GITHUB_TOKEN": "ghp_x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "PASSWORD": "x",
            "db_passwd": "x",
            "SSH_PRIVATE_KEY": "x",
            "KEY": "x",
            "SIGNING_KEY": "x",
            "HTTP_PROXY": "http://proxy:3128",
            "BASE_IMAGE": "debian",
        }
    )
    assert redacted["VERSION"] == "1"
    assert redacted["HTTP_PROXY"] == "http://proxy:3128"
    assert redacted["BASE_IMAGE"] == "debian"
    for name in (
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "PASSWORD",
        "db_passwd",
        "SSH_PRIVATE_KEY",
        "KEY",
        "SIGNING_KEY",
    ):
        assert redacted[name] == REDACTED, name


def test_no_secret_value_reaches_the_signed_bytes() -> None:
    data = slsa_provenance(fixtures.SUBJECTS, fixtures.PROVENANCE, env=fixtures.PLAIN_ENV).to_bytes()
    for secret in ("s3cr3t-npm", "hunter2"):
        assert secret.encode() not in data
    assert b'"NPM_TOKEN":"[redacted]"' in data


def test_builder_id_under_github_actions() -> None:
    assert (
        builder_id(env=GHA_ENV)
        == "https://github.com/octo/app/.github/workflows/release.yml@refs/tags/v1.0.0"
    )
    assert invocation_id(GHA_ENV) == "https://github.com/octo/app/actions/runs/4242/attempts/2"
    statement = slsa_provenance(fixtures.SUBJECTS, fixtures.PROVENANCE, env=GHA_ENV)
    details = statement.predicate["runDetails"]
    assert details["builder"]["id"] == builder_id(env=GHA_ENV)
    assert details["metadata"]["invocationId"] == invocation_id(GHA_ENV)


def test_builder_id_precedence() -> None:
    assert builder_id(env={}) == DEFAULT_BUILDER_ID
    assert invocation_id({}) is None
    assert builder_id(env={**GHA_ENV, "REPRO_BUILDER_ID": "https://ci.example/b"}) == "https://ci.example/b"
    assert builder_id("https://explicit.example/b", env=GHA_ENV) == "https://explicit.example/b"
    # A workflow ref outside GitHub Actions is not trusted to mean anything.
    assert builder_id(env={"GITHUB_WORKFLOW_REF": "x/y/.github/workflows/a.yml@main"}) == DEFAULT_BUILDER_ID


def test_reproducibility_refuses_differing_digests() -> None:
    inputs = ReproducibilityInputs((fixtures.IMAGE, fixtures.OTHER), {}, 0)
    with pytest.raises(AttestationError, match="different digests"):
        reproducibility_statement(fixtures.SUBJECTS, inputs)
    with pytest.raises(AttestationError, match="two builds"):
        reproducibility_statement(fixtures.SUBJECTS, ReproducibilityInputs((fixtures.IMAGE,), {}, 0))


def test_cyclonedx_refuses_what_is_not_a_bom() -> None:
    with pytest.raises(AttestationError, match="CycloneDX"):
        cyclonedx_statement(fixtures.SUBJECTS, b'{"spdxVersion": "SPDX-2.3"}')
    with pytest.raises(AttestationError, match="not JSON"):
        cyclonedx_statement(fixtures.SUBJECTS, b"\xff")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "not an in-toto statement"),
        (b'{"_type": "https://in-toto.io/Statement/v0.1"}', "not an in-toto statement"),
        (b'{"_type": "https://in-toto.io/Statement/v1", "predicateType": "x", "subject": []}', "subject"),
        (
            b'{"_type": "https://in-toto.io/Statement/v1", "predicateType": "x", "subject": [{"digest": {"md5": "00"}}]}',
            "no subject",
        ),
        (
            b'{"_type": "https://in-toto.io/Statement/v1", "predicateType": "x", "subject": [{"digest": {"sha256": "zz"}}]}',
            "invalid subject digest",
        ),
        (b'{"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {}}]}', "predicateType"),
    ],
)
def test_malformed_statements_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(AttestationError, match=message):
        Statement.from_bytes(data)


def test_require_names_map_to_predicate_types() -> None:
    assert predicate_types(["provenance", "SBOM", " reproducible", "provenance", ""]) == (
        SLSA_PROVENANCE_V1,
        CYCLONEDX_BOM,
        REPRODUCIBLE_V1,
    )
    with pytest.raises(UsageError, match="unknown attestation 'vex'"):
        predicate_types(["vex"])


def test_the_cosign_signature_statement_is_what_cosign_sign_writes() -> None:
    from repro.attest.statements import COSIGN_SIGN_V1, cosign_signature_statement

    statement = cosign_signature_statement(fixtures.SUBJECTS[:1])
    assert statement.to_json() == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": fixtures.NAME, "digest": {"sha256": fixtures.IMAGE.hex}}],
        "predicateType": COSIGN_SIGN_V1,
        "predicate": {},
    }
    assert predicate_types(["signature"]) == (COSIGN_SIGN_V1,)
