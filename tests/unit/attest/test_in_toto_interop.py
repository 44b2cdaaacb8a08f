"""repro's statements under the in-toto-attestation package's strict models (protobuf,
unknown fields refused): the Statement v1 envelope of each predicate, and SLSA
provenance v1 field by field, including each ResourceDescriptor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement as InTotoStatement

from repro.attest import statements
from repro.attest.statements import (
    BuildContext,
    ProvenanceInputs,
    SourceContext,
    Statement,
    cyclonedx_statement,
    reproducibility_statement,
    slsa_provenance,
)
from tests.unit.attest import fixtures


def strict_statement(data: bytes) -> Any:
    """Parse as in-toto does, refusing unknown fields, and run its validation."""
    proto = json_format.Parse(data.decode(), statement_pb2.Statement(), ignore_unknown_fields=False)
    InTotoStatement.copy_from_pb(proto).validate()
    return proto


def strict_provenance(statement: Statement) -> Any:
    predicate = json_format.ParseDict(
        statement.to_json()["predicate"],
        provenance_pb2.Provenance(),
        ignore_unknown_fields=False,
    )
    for dependency in predicate.build_definition.resolved_dependencies:
        ResourceDescriptor.copy_from_pb(dependency).validate()
    for byproduct in predicate.run_details.byproducts:
        ResourceDescriptor.copy_from_pb(byproduct).validate()
    return predicate


def all_statements() -> list[Statement]:
    dirty_without_remote = ProvenanceInputs(
        dockerfile="Dockerfile",
        started_on=datetime(2024, 5, 1, tzinfo=UTC),
        finished_on=datetime(2024, 5, 1, 0, 1, tzinfo=UTC),
        context=SourceContext(None, "c" * 40, dirty=True, changed=("app/a.txt",)),
        build_context=BuildContext("5" * 64, 3),
    )
    return [
        slsa_provenance(fixtures.SUBJECTS, fixtures.PROVENANCE, env=fixtures.PLAIN_ENV),
        slsa_provenance(fixtures.SUBJECTS, dirty_without_remote, env=fixtures.PLAIN_ENV),
        cyclonedx_statement(fixtures.SUBJECTS, fixtures.SBOM),
        reproducibility_statement(fixtures.SUBJECTS, fixtures.REPRODUCIBILITY),
    ]


@pytest.mark.parametrize("statement", all_statements(), ids=lambda s: s.predicate_type.rsplit("/", 2)[-2])
def test_statements_parse_under_the_strict_in_toto_models(statement: Statement) -> None:
    proto = strict_statement(statement.to_bytes())
    assert proto.predicate_type == statement.predicate_type
    assert [dict(s.digest) for s in proto.subject] == [
        {s.digest.algorithm: s.digest.hex} for s in statement.subjects
    ]
    if statement.predicate_type == statements.SLSA_PROVENANCE_V1:
        predicate = strict_provenance(statement)
        assert predicate.build_definition.build_type == statements.BUILD_TYPE
        assert all(d.uri or d.name for d in predicate.build_definition.resolved_dependencies)


def test_the_golden_files_parse_too() -> None:
    for path in sorted((Path(__file__).parent / "golden").glob("*.json")):
        strict_statement(path.read_bytes())


def test_the_strict_models_do_refuse_what_is_not_in_the_spec() -> None:
    """So that passing them means something: an unknown field is an error."""
    statement = slsa_provenance(fixtures.SUBJECTS, fixtures.PROVENANCE, env=fixtures.PLAIN_ENV)
    document = statement.to_json()
    document["predicate"]["buildDefinition"]["extra"] = True
    with pytest.raises(json_format.ParseError, match="extra"):
        json_format.ParseDict(document["predicate"], provenance_pb2.Provenance(), ignore_unknown_fields=False)
    document = statement.to_json()
    document["subject"] = [{"name": "x", "digest": {}}]
    with pytest.raises(ValueError, match="digest"):
        strict_statement(json.dumps(document).encode())
