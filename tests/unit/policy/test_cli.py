from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.cli import main

CLEAN = """\
FROM debian:bookworm@sha256:{d}
LABEL org.opencontainers.image.source=s org.opencontainers.image.revision=r \\
      org.opencontainers.image.version=v org.opencontainers.image.licenses=MIT
USER app
CMD ["/app"]
""".format(d="ab" * 32)


def test_check_passes_on_a_clean_dockerfile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").write_text(CLEAN)
    assert main(["policy", "check", str(tmp_path)]) == 0
    assert "passed: 0 error(s)" in capsys.readouterr().err


def test_check_fails_on_an_error_and_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").write_text(CLEAN.replace("@sha256:" + "ab" * 32, ""))
    assert main(["policy", "check", "--json", str(tmp_path / "Dockerfile")]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [f["id"] for f in doc["findings"]] == ["REPRO-PIN-001"]


def test_configuration_disables_and_excepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").write_text(CLEAN.replace("USER app\n", "").replace("@sha256:" + "ab" * 32, ""))
    (tmp_path / "repro.toml").write_text(
        '[policy]\ndisable = ["REPRO-USER-001"]\n'
        'exceptions = [{ rule = "REPRO-PIN-001", path = "Dockerfile", reason = "r", expires = 2999-01-01 }]\n'
    )
    assert main(["policy", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "REPRO-USER-001" not in out
    assert "excepted until 2999-01-01: r" in out


def test_input_file_is_evaluated_directly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document: dict[str, object] = {
        "stage": "release",
        "pins": [],
        "image": None,
        "sbom": None,
        "signatures": None,
    }
    (tmp_path / "input.json").write_text(json.dumps(document))
    assert main(["policy", "check", "--input", str(tmp_path / "input.json"), "--format", "sarif"]) == 1
    ids = {r["ruleId"] for r in json.loads(capsys.readouterr().out)["runs"][0]["results"]}
    assert {"REPRO-SBOM-001", "REPRO-SIGN-001", "REPRO-BUILD-001"} <= ids


def test_user_policy_in_v0_syntax_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").write_text(CLEAN)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "old.rego").write_text('package mine\n\ndeny[msg] {\n  msg := "x"\n}\n')
    assert main(["policy", "check", "--policy", str(tmp_path / "policies"), str(tmp_path)]) == 78
    err = capsys.readouterr().err
    assert "old.rego:3: Rego v0 syntax" in err


def test_policy_test_runs_user_tests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.rego").write_text(
        'package mine\n\nimport data.repro.lib\nimport rego.v1\n\nrules := {"MINE-001": {"title": "t", '
        '"severity": "error", "fix": "f"}}\n\nfindings contains f if {\n  some pin in input.pins\n'
        '  pin.registry == "quay.io"\n  f := lib.finding(rules, "MINE-001", "no quay", pin)\n}\n'
    )
    (tmp_path / "mine_test.rego").write_text(
        "package mine_test\n\nimport data.repro.testlib\n\n"
        'test_quay := {"input": {"pins": [testlib.pin({"registry": "quay.io"})]}, "expect": ["MINE-001"]}\n\n'
        'test_hub := {"input": {"pins": [testlib.pin({})]}, "expect": ["MINE-001"]}\n'
    )
    assert main(["policy", "test", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "data.mine_test.test_quay: PASS" in captured.out
    assert "data.mine_test.test_hub: FAIL" in captured.out
    assert "1 passed, 1 failed" in captured.err


def test_policy_without_subcommand_is_a_usage_error() -> None:
    assert main(["policy"]) == 64
