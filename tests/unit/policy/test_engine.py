from __future__ import annotations

from pathlib import Path

import pytest

from repro.errors import PolicyError
from repro.policy import PolicySet, default_policy_dir
from repro.policy.engine import check_v1, discover_modules, module_from_source, parse_rego_errors
from tests.conftest import repo_root


def test_default_policies_are_the_top_level_policy_directory_in_a_checkout() -> None:
    assert default_policy_dir() == repo_root() / "policy"


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("package p\n\ndeny[msg] {\n  msg := 1\n}\n", 3),
        ("package p\n\nallow {\n  true\n}\n", 3),
        ("package p\nimport rego.v1\n\nf(x) = y {\n  y := x\n}\n", 4),
        ("package p\n\nx := 1 if {\n  true\n} else = 2 {\n  true\n}\n", 5),
        ("package p\n\ndeny contains msg {\n  msg := 1\n}\n", 3),
    ],
)
def test_rego_v0_bodies_are_refused_with_file_and_line(source: str, line: int) -> None:
    with pytest.raises(PolicyError, match=rf"^mine\.rego:{line}: Rego v0 syntax") as info:
        check_v1(source, "mine.rego")
    assert "if" in info.value.hint


def test_conftest_bracket_sets_with_if_are_refused_as_objects() -> None:
    with pytest.raises(PolicyError, match=r"mine\.rego:3: 'deny\[msg\] if' makes an object") as info:
        check_v1("package p\n\ndeny[msg] if {\n  msg := 1\n}\n", "mine.rego")
    assert "deny contains msg if" in info.value.hint


@pytest.mark.parametrize(
    "source",
    [
        'package p\n\nx := {"a": {"b": 1}}\n\ny contains v if {\n  some v in [1]\n}\n',
        "package p\n\ndefault allow := false\n\nallow if input.ok\n",
        'package p\n\nx := 1 if {\n  input.a\n} else := 2\n\n# { not a body }\ns := "{"\n',
        "package p\n\nf(x) := y if {\n  y := {x}\n}\n\nz := [v | some v in {1, 2}]\n",
    ],
)
def test_rego_v1_passes_the_check(source: str) -> None:
    check_v1(source, "ok.rego")


def test_syntax_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.rego").write_text('package p\n\nfindings contains f if {\n  f := {"a": 1\n}\n')
    with pytest.raises(PolicyError, match=r"broken\.rego:\d+: .*unclosed"):
        PolicySet.load([tmp_path])


def test_unknown_functions_are_located(tmp_path: Path) -> None:
    (tmp_path / "calls.rego").write_text("package p\n\nfindings contains f if {\n  f := no_such_fn(1)\n}\n")
    policies = PolicySet.load([tmp_path], include_defaults=False)
    with pytest.raises(PolicyError, match=r"calls\.rego:4: Function not found: no_such_fn"):
        policies.evaluate({})


def test_findings_are_validated(tmp_path: Path) -> None:
    (tmp_path / "bad.rego").write_text(
        'package p\n\nfindings contains f if {\n  f := {"id": "X", "message": "m"}\n}\n'
    )
    policies = PolicySet.load([tmp_path], include_defaults=False)
    with pytest.raises(PolicyError, match="severity must be one of"):
        policies.evaluate({})


def test_regopy_prints_nothing_on_stdout_even_for_errors(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conflict.rego").write_text("package p\n\nx := 1\n\nx := 2\n\nfindings contains x if true\n")
    policies = PolicySet.load([tmp_path], include_defaults=False)
    with pytest.raises(PolicyError):
        policies.evaluate({})
    assert capfd.readouterr().out == ""


def test_parse_rego_errors_reads_length_prefixed_fields() -> None:
    text = "(rego-errorseq\n  (error 9:bad3.rego|40|2\n    (errormsg 16:this is unclosed)\n    (errorast |40|2)))"
    assert parse_rego_errors(text) == [("bad3.rego", 40, "this is unclosed")]


def test_module_line_of_offset() -> None:
    module = module_from_source("package p\n\nx := 1\n", "m.rego")
    assert module.line_of(0) == 1
    assert module.line_of(11) == 3


def test_every_rule_has_metadata_and_both_a_passing_and_a_failing_case(policies: PolicySet) -> None:
    rules = policies.rules()
    assert len(rules) >= 25
    tests = [t for m in discover_modules([], tests=True) if m.is_test for t in m.tests]
    for rule_id, info in rules.items():
        assert info.severity in ("error", "warning", "note")
        assert info.fix
        assert info.title
        slug = rule_id.removeprefix("REPRO-").lower().replace("-", "_")
        assert len([t for t in tests if slug in t]) >= 2, f"{rule_id} needs a passing and a failing test"


def test_the_default_policy_tests_pass(policies: PolicySet) -> None:
    modules = discover_modules([], tests=True)
    everything = PolicySet(modules, {"config": {"allowed_registries": [], "size_budget_mb": None}})
    results = everything.run_tests()
    assert len(results) > 60
    failed = [(r.name, r.error) for r in results if not r.passed]
    assert failed == []


def test_a_failing_case_says_what_was_missing(tmp_path: Path) -> None:
    (tmp_path / "mine.rego").write_text(
        "package mine\n\nimport rego.v1\n\nfindings contains f if {\n  input.bad\n"
        '  f := {"id": "M-1", "severity": "error", "message": "bad"}\n}\n'
    )
    (tmp_path / "mine_test.rego").write_text(
        'package mine_test\n\ntest_bad_is_reported := {"input": {"bad": true}, "expect": ["M-1"]}\n\n'
        'test_wrong := {"input": {"bad": false}, "expect": ["M-1"]}\n'
    )
    policies = PolicySet.load([tmp_path], include_defaults=False, tests=True)
    results = {r.name: r for r in policies.run_tests()}
    assert results["test_bad_is_reported"].passed
    assert not results["test_wrong"].passed
    assert "expected M-1" in (results["test_wrong"].detail or "")
