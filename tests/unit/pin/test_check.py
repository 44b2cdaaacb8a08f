"""check_paths and ``repro pin --check``: exit codes and output formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.cli import main
from repro.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_REGISTRY, EXIT_TAG_MOVED, RegistryUnreachableError
from repro.pin import FindingKind, check_paths, pin_paths
from repro.pin.render import check_github, github_annotation
from repro.platform import parse_platforms
from tests.unit.pin.helpers import TableResolver, fake_digest, index

DEBIAN = fake_digest("docker.io/library/debian:bookworm")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_unpinned_refs_exit_1_with_file_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "Dockerfile", f"FROM debian:bookworm@{DEBIAN}\nRUN x\nCOPY --from=busybox:1.36 / /\n"
    )
    report = check_paths([tmp_path])
    assert report.exit_code == EXIT_CHECK_FAILED
    [finding] = report.findings
    assert finding.kind is FindingKind.UNPINNED
    assert str(finding.site) == f"{path}:3"
    assert finding.text == "busybox:1.36"


def test_all_pinned_exit_0_without_network(tmp_path: Path) -> None:
    _write(tmp_path / "Dockerfile", f"FROM debian:bookworm@{DEBIAN} AS a\nFROM a\nFROM scratch\n")
    report = check_paths([tmp_path])
    assert report.exit_code == EXIT_OK
    assert report.errors == ()


def test_fresh_reports_moved_tags_with_exit_2(tmp_path: Path) -> None:
    old = fake_digest("older")
    _write(tmp_path / "Dockerfile", f"FROM debian:bookworm@{old}\n")
    report = check_paths([tmp_path], client=TableResolver(), fresh=True)
    assert report.exit_code == EXIT_TAG_MOVED
    [finding] = report.findings
    assert finding.kind is FindingKind.MOVED
    assert str(old) in finding.message
    assert str(DEBIAN) in finding.message


def test_fresh_current_tags_exit_0(tmp_path: Path) -> None:
    _write(tmp_path / "Dockerfile", "FROM debian:bookworm\n")
    pin_paths([tmp_path], client=TableResolver())
    assert check_paths([tmp_path], client=TableResolver(), fresh=True).exit_code == EXIT_OK


def test_fresh_registry_errors_exit_3(tmp_path: Path) -> None:
    _write(tmp_path / "Dockerfile", f"FROM debian:bookworm@{DEBIAN}\n")
    down = TableResolver(
        fail={"docker.io/library/debian:bookworm": RegistryUnreachableError("connection refused")}
    )
    report = check_paths([tmp_path], client=down, fresh=True)
    assert report.exit_code == EXIT_REGISTRY
    assert report.findings[0].kind is FindingKind.REGISTRY
    assert "connection refused" in report.findings[0].message


def test_definite_findings_win_over_could_not_check(tmp_path: Path) -> None:
    _write(tmp_path / "Dockerfile", f"FROM debian:bookworm@{fake_digest('old')}\nFROM alpine:3.20@{DEBIAN}\n")
    down = TableResolver(fail={"docker.io/library/alpine:3.20": RegistryUnreachableError("refused")})
    assert check_paths([tmp_path], client=down, fresh=True).exit_code == EXIT_TAG_MOVED
    _write(tmp_path / "Dockerfile.x", "FROM alpine:3.20\n")
    assert check_paths([tmp_path], client=down, fresh=True).exit_code == EXIT_CHECK_FAILED


def test_single_platform_pin_is_reported_from_the_lock(tmp_path: Path) -> None:
    table = {"docker.io/library/debian:bookworm": index("docker.io/library/debian:bookworm", "linux/amd64")}
    amd64 = fake_digest("docker.io/library/debian:bookworm linux/amd64")
    _write(tmp_path / "Dockerfile", f"FROM debian:bookworm@{amd64}\n")
    pin_paths([tmp_path], client=TableResolver(table))
    targets = parse_platforms("linux/amd64,linux/arm64")
    report = check_paths([tmp_path], platforms=targets)
    assert [f.kind for f in report.findings] == [FindingKind.PLATFORM]
    assert "single-platform" in report.findings[0].message
    assert report.exit_code == EXIT_CHECK_FAILED
    assert check_paths([tmp_path], platforms=parse_platforms("linux/amd64")).exit_code == EXIT_OK


def test_lock_out_of_step_is_a_note(tmp_path: Path) -> None:
    _write(tmp_path / "Dockerfile", "FROM debian:bookworm\n")
    pin_paths([tmp_path], client=TableResolver())
    _write(tmp_path / "Dockerfile", f"FROM debian:bookworm@{fake_digest('hand pinned')}\n")
    report = check_paths([tmp_path])
    assert report.exit_code == EXIT_OK
    assert [f.kind for f in report.findings] == [FindingKind.NOTE]
    assert "repro.lock" in report.findings[0].message


def test_github_annotations_escape(tmp_path: Path) -> None:
    _write(tmp_path / "a,b" / "Dockerfile", "FROM debian:bookworm\n")
    report = check_paths([tmp_path])
    line = check_github(report)
    assert (
        line
        == f"::error file={tmp_path}/a%2Cb/Dockerfile,line=1,title=repro pin::debian:bookworm is not pinned to a digest\n"
    )
    finding = report.findings[0]
    assert github_annotation(finding).count("::") == 2


def test_cli_check_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "Dockerfile", "FROM debian:bookworm\nFROM busybox:1.36\n")
    assert main(["pin", "--check", str(tmp_path)]) == EXIT_CHECK_FAILED
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{path}:1: unpinned: debian:bookworm is not pinned to a digest",
        f"{path}:2: unpinned: busybox:1.36 is not pinned to a digest",
    ]
    assert "2 problem(s)" in captured.err

    assert main(["pin", "--check", "--json", str(tmp_path)]) == EXIT_CHECK_FAILED
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == EXIT_CHECK_FAILED
    assert [(f["line"], f["kind"]) for f in data["findings"]] == [(1, "unpinned"), (2, "unpinned")]

    assert main(["pin", "--check", "--format", "github", str(path)]) == EXIT_CHECK_FAILED
    assert capsys.readouterr().out.startswith(f"::error file={path},line=1,")


def test_cli_check_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "Dockerfile", f"FROM debian:bookworm@{DEBIAN}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["pin", "--check"]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "all pinned" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["pin", "--fresh"],
        ["pin", "--check", "--update"],
        ["pin", "--check", "--dry-run"],
        ["pin", "--format", "github"],
        ["pin", "--check", "--json", "--format", "human"],
        ["pin", "--check", "--lockfile", "x", "--no-lock"],
        ["pin", "--check", "--platform", "linux"],
    ],
)
def test_cli_usage_errors(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "Dockerfile", "FROM scratch\n")
    assert main([*argv, str(tmp_path)]) == 64


def test_cli_malformed_dockerfile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "Dockerfile", "FROM\n")
    assert main(["pin", "--check", str(path)]) == 4
    assert capsys.readouterr().out.startswith(f"{path}:1: failed: ")
    assert main(["pin", "--check", "--fail-fast", str(path)]) == 4
    assert capsys.readouterr().err.startswith(f"repro: error: {path}:1")


def test_offline_check_does_not_import_the_http_client() -> None:
    import subprocess
    import sys

    code = "import sys; from repro.cli import main; main(['pin', '--check', '/nonexistent']); print(sorted(m for m in sys.modules if m in ('requests', 'repro.registry.client')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_several_platforms_are_checked_with_the_registry_when_no_lock_says(tmp_path: Path) -> None:
    table = {"docker.io/library/debian:bookworm": index("docker.io/library/debian:bookworm", "linux/amd64")}
    whole = table["docker.io/library/debian:bookworm"].digest
    _write(tmp_path / "Dockerfile", f"FROM debian:bookworm@{whole}\n")
    targets = parse_platforms("linux/amd64,linux/arm64")
    report = check_paths([tmp_path], client=TableResolver(table), platforms=targets)
    assert report.exit_code == EXIT_CHECK_FAILED
    messages = [f.message for f in report.findings if f.kind is FindingKind.PLATFORM]
    assert len(messages) == 1
    assert "has no manifest for linux/arm64 (its index has linux/amd64)" in messages[0]
    # without a client the check cannot tell, and says so rather than passing
    offline = check_paths([tmp_path], platforms=targets)
    assert offline.exit_code == EXIT_CHECK_FAILED
    assert all("no repro.lock records its platforms" in f.message for f in offline.findings)
    # one platform: as before, the files (and any lock) alone
    assert check_paths([tmp_path], platforms=parse_platforms("linux/amd64")).exit_code == EXIT_OK
    # an index with both platforms passes
    both = {
        "docker.io/library/debian:bookworm": index("docker.io/library/debian:bookworm", *map(str, targets))
    }
    _write(
        tmp_path / "Dockerfile", f"FROM debian:bookworm@{both['docker.io/library/debian:bookworm'].digest}\n"
    )
    assert check_paths([tmp_path], client=TableResolver(both), platforms=targets).exit_code == EXIT_OK
