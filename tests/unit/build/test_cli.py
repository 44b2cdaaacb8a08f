"""``repro build``, ``verify`` and ``diff`` on the command line, with a stand-in engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.build import pipeline
from repro.cli import main
from repro.errors import EXIT_NOT_REPRODUCIBLE, EXIT_OK, EXIT_USAGE
from repro.reproduce import verify
from tests.unit.build.fakes import FakeEngine, use_base

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    use_base(monkeypatch, "busybox", DIGEST)
    directory = tmp_path / "ctx"
    directory.mkdir()
    (directory / "Dockerfile").write_text(f"FROM busybox@{DIGEST}\nRUN echo hi > /out.txt\n")
    return directory


def use_engine(monkeypatch: pytest.MonkeyPatch, engine: FakeEngine) -> None:
    """Make the CLI build with ``engine``: no buildah runs in unit tests."""
    monkeypatch.setattr(pipeline, "engines_for", lambda spec, config: [engine])
    monkeypatch.setattr(verify, "engines_for", lambda spec, config: [engine])


def test_build_prints_the_digest_and_progress(
    ctx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_engine(monkeypatch, FakeEngine())
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'out'}:v1"]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.startswith("sha256:")
    assert "repro: step 1/1: RUN echo hi > /out.txt" in captured.err
    assert f"oci:{tmp_path / 'out'}:v1" in captured.err


def test_verify_reproducible(
    ctx: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_engine(monkeypatch, FakeEngine())
    assert main(["verify", str(ctx), "--sequential"]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.startswith("reproducible sha256:")
    assert "[A] step 1/1" in captured.err
    assert "[B] step 1/1" in captured.err


def test_verify_not_reproducible_prints_the_report_and_exits_6(
    ctx: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_engine(monkeypatch, FakeEngine(vary=True))
    assert main(["verify", str(ctx), "--sequential"]) == EXIT_NOT_REPRODUCIBLE
    captured = capsys.readouterr()
    assert "DIFFERENT — first differing layer: 0" in captured.out
    assert "out.txt" in captured.out
    assert "repro: error: not reproducible" in captured.err

    assert main(["verify", str(ctx), "--sequential", "--json"]) == EXIT_NOT_REPRODUCIBLE
    result = json.loads(capsys.readouterr().out)
    assert result["reproducible"] is False
    assert result["diff"]["first_differing_layer"] == 0
    assert [b["layout"] for b in result["builds"]] == [None, None]  # removed after comparing


def test_unknown_scrub_profile_is_refused_before_building(
    ctx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = FakeEngine()
    use_engine(monkeypatch, engine)
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'o'}", "--scrub", "apt,nope"]) == EXIT_USAGE
    assert "unknown scrub profile 'nope'" in capsys.readouterr().err
    assert engine.requests == []


def test_diff_of_two_layouts(
    ctx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_engine(monkeypatch, FakeEngine(b"one"))
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'out'}:a"]) == EXIT_OK
    use_engine(monkeypatch, FakeEngine(b"two"))
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'out'}:b"]) == EXIT_OK
    capsys.readouterr()
    a, b = f"oci:{tmp_path / 'out'}:a", f"oci:{tmp_path / 'out'}:b"
    assert main(["diff", a, a]) == EXIT_OK
    assert "identical" in capsys.readouterr().out
    assert main(["diff", a, b, "-f", str(ctx / "Dockerfile")]) == EXIT_NOT_REPRODUCIBLE
    report = capsys.readouterr().out
    assert f"RUN at {ctx / 'Dockerfile'}:2" in report
    assert "out.txt" in report


def test_build_and_verify_two_platforms(
    ctx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_engine(monkeypatch, FakeEngine())
    out = tmp_path / "out"
    platforms = "linux/amd64,linux/arm64"
    assert main(["build", str(ctx), "--platform", platforms, "-o", f"oci:{out}:v1"]) == EXIT_OK
    captured = capsys.readouterr()
    digest = captured.out.strip()
    assert digest.startswith("sha256:")
    assert "an index of 2 platforms" in captured.err
    assert "[linux/arm64] step 1/1" in captured.err

    assert main(["verify", str(ctx), "--platform", platforms, "--sequential"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" sha256:")[0] for line in lines] == [
        "linux/amd64: reproducible",
        "linux/arm64: reproducible",
        "reproducible",
    ]
    assert lines[-1] == f"reproducible {digest}"  # the index verify proves is the one build wrote

    assert main(["verify", str(ctx), "--platform", platforms, "--sequential", "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["digest"] == digest
    assert [p["platform"] for p in result["platforms"]] == ["linux/amd64", "linux/arm64"]


def test_verify_two_platforms_reports_the_one_that_differs(
    ctx: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_engine(monkeypatch, FakeEngine(vary=True))
    args = ["verify", str(ctx), "--platform", "linux/amd64,linux/arm64", "--sequential"]
    assert main(args) == EXIT_NOT_REPRODUCIBLE
    captured = capsys.readouterr()
    assert "linux/amd64: not reproducible" in captured.out
    assert "== linux/arm64: what differs ==" in captured.out
    assert "build A linux/arm64" in captured.out
    assert "not reproducible on linux/amd64, linux/arm64" in captured.err
