"""One verdict per image reference: pin --check, policy check and build agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.build.preflight import find_unpinned
from repro.cli import main
from repro.dockerfile import build_stage_graph, parse
from repro.errors import EXIT_CHECK_FAILED, EXIT_DOCKERFILE, EXIT_NOTHING_CHECKED, EXIT_OK

DIGEST = "sha256:" + "ab" * 32

CASES = [
    ("FROM busybox:${TAG:-1.36}\n", False),
    ("ARG TAG=1.36\nFROM busybox:${TAG}\n", False),
    ("FROM ${BASE}\n", False),
    ("ARG BASE\nFROM $BASE\n", False),
    ("FROM " + "82ad5f" + "0" * 58 + "\n", False),
    ("FROM Debian:bookworm\n", False),
    ("FROM busybox:1.36\n", False),
    (f"FROM busybox:1.36@{DIGEST}\n", True),
    (f"ARG BASE=busybox:1.36@{DIGEST}\nFROM ${{BASE}}\n", True),
    (f"ARG TAG=1.36@{DIGEST}\nFROM busybox:${{TAG}}\n", True),
]


@pytest.mark.parametrize(("text", "pinned"), CASES)
def test_every_gate_gives_the_same_verdict(
    text: str, pinned: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    expected = EXIT_OK if pinned else EXIT_CHECK_FAILED
    assert main(["pin", "--check", "--no-lock", str(path)]) == expected
    # Policy check fails on any error-severity finding; other rules (e.g. USER) must not
    # decide the verdict here, so only the pin rules (all of severity error) are compared.
    main(["policy", "check", "--json", str(path)])
    out = capsys.readouterr().out
    has_pin_error = any(rule in out for rule in ('"REPRO-PIN-001"', '"REPRO-PIN-005"', '"REPRO-PIN-007"'))
    assert has_pin_error is (not pinned)
    unpinned = find_unpinned(build_stage_graph(parse(path.read_bytes(), filename=str(path))))
    assert (not unpinned) is pinned


def test_empty_policy_gate_fails_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").mkdir()
    (tmp_path / "Dockerfile-prod").write_text("FROM busybox:1.36\n")
    assert main(["policy", "check", str(tmp_path)]) == EXIT_NOTHING_CHECKED
    err = capsys.readouterr().err
    assert "nothing was checked" in err
    assert "Dockerfile-prod: skipped: not a Dockerfile name" in err
    assert "a directory, not a Dockerfile" in err
    assert main(["policy", "check", "--allow-empty", str(tmp_path)]) == EXIT_OK


def test_policy_check_refuses_a_huge_dockerfile_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from repro.policy.check import MAX_POLICY_INSTRUCTIONS

    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM busybox:1.36\n" + b"RUN true\n" * MAX_POLICY_INSTRUCTIONS)
    assert main(["policy", "check", str(path)]) == EXIT_DOCKERFILE
    assert f"policy check reads at most {MAX_POLICY_INSTRUCTIONS}" in capsys.readouterr().err
