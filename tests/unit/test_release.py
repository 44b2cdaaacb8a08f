"""The release pipeline without an engine or a registry: stage errors and their exit codes,
the destination and report-path rules, the local key, the report and the progress view."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from repro import errors
from repro.attest.keys import local_key
from repro.build import BuildSpec
from repro.cli import main
from repro.config import Config
from repro.errors import (
    EXIT_RELEASE_BUILD,
    EXIT_RELEASE_PIN,
    EXIT_RELEASE_POLICY,
    EXIT_RELEASE_PUSH,
    EXIT_RELEASE_SBOM,
    EXIT_RELEASE_SIGN,
    EXIT_RELEASE_VERIFY,
    CheckFailedError,
    ReleaseError,
    UsageError,
)
from repro.images.location import LayoutLocation, RegistryLocation
from repro.release import (
    ConsoleProgress,
    ReleaseOptions,
    ReleaseReport,
    StageEvent,
    StageRecord,
    append_step_summary,
    destination_for,
    release,
    write_json_report,
)
from repro.release.pipeline import image_name, sbom_counts
from repro.sbom.diff import diff_sboms

DIGEST = "sha256:" + "a" * 64


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "code"),
    [
        ("pin", EXIT_RELEASE_PIN),
        ("build", EXIT_RELEASE_BUILD),
        ("sbom", EXIT_RELEASE_SBOM),
        ("policy", EXIT_RELEASE_POLICY),
        ("sign", EXIT_RELEASE_SIGN),
        ("push", EXIT_RELEASE_PUSH),
        ("verify-image", EXIT_RELEASE_VERIFY),
        ("tag", EXIT_RELEASE_PUSH),
    ],
)
def test_each_stage_has_its_exit_code(stage: str, code: int) -> None:
    cause = CheckFailedError("it went wrong", hint="do this instead")
    error = ReleaseError.at(stage, cause)
    assert isinstance(error, ReleaseError)
    assert error.exit_code == code
    assert str(error) == f"release stopped at the {stage} stage: it went wrong"
    assert error.hint == "do this instead"
    assert error.cause is cause
    assert error.__cause__ is cause


def test_a_cause_that_is_not_a_repro_error_keeps_its_text() -> None:
    error = ReleaseError.at("sbom", OSError(28, "No space left on device"))
    assert error.exit_code == EXIT_RELEASE_SBOM
    assert "No space left on device" in str(error)
    assert error.hint == ""


def test_release_exit_codes_are_distinct_and_in_their_own_range() -> None:
    codes = [value for name, value in vars(errors).items() if name.startswith("EXIT_RELEASE_")]
    assert sorted(codes) == list(range(30, 38))


# -- destinations ------------------------------------------------------------------------------


def test_without_push_the_release_goes_to_dist_with_a_report(tmp_path: Path) -> None:
    destination = destination_for(None, image_name("registry.example/team/app:1.0"), tmp_path)
    assert isinstance(destination.location, LayoutLocation)
    assert destination.location.directory == tmp_path / "dist"
    assert destination.tag == "1.0"
    assert destination.text == f"oci:{tmp_path / 'dist'}:1.0"
    assert destination.report_path == tmp_path / "dist" / "release.json"


def test_a_layout_destination_keeps_its_tag_or_takes_the_image_tag() -> None:
    image = image_name("app:2.0")
    assert destination_for("oci:out:rc1", image).tag == "rc1"
    other = destination_for("oci:out", image)
    assert isinstance(other.location, LayoutLocation)
    assert (other.location.directory, other.tag, other.report_path) == (Path("out"), "2.0", None)


def test_a_registry_destination_is_pushed_by_tag() -> None:
    image = image_name("registry.example/app:1.0")
    destination = destination_for("registry.example/other/app", image)
    assert isinstance(destination.location, RegistryLocation)
    assert destination.tag == "1.0"
    assert destination.text == "registry.example/other/app:1.0"
    assert destination.report_path is None
    with pytest.raises(UsageError, match="pushed by tag"):
        destination_for(f"registry.example/app@{DIGEST}", image)
    with pytest.raises(UsageError, match="--push takes no oci-archive"):
        destination_for("oci-archive:app.tar", image)


def test_the_image_name_may_not_carry_a_digest() -> None:
    with pytest.raises(UsageError, match="NAME:TAG"):
        image_name(f"app:1.0@{DIGEST}")


# -- the pipeline, up to where it needs an engine ------------------------------------------------


def test_an_unpinned_base_stops_the_release_at_the_pin_stage(tmp_path: Path) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM debian:bookworm\nUSER 1000\n")
    events: list[StageEvent] = []
    options = ReleaseOptions(BuildSpec(context), image="app:1.0", workdir=tmp_path)
    with pytest.raises(ReleaseError) as caught:
        release(options, config=Config(), progress=events.append, env={})
    error = caught.value
    assert error.exit_code == EXIT_RELEASE_PIN
    assert "debian:bookworm is not pinned" in str(error)
    report = error.report
    assert isinstance(report, ReleaseReport)
    assert [(s.name, s.status) for s in report.stages] == [("source", "passed"), ("pin", "failed")]
    assert report.error is not None
    assert report.error["exit_code"] == EXIT_RELEASE_PIN
    assert [e.kind for e in events] == ["start", "step", "done", "start", "step", "failed"]
    assert not (tmp_path / "dist").exists()
    assert "local signing key" in report.notes[0]  # made before the build, said so


def test_a_wrong_key_passphrase_fails_at_the_sign_stage_before_anything_runs(tmp_path: Path) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    local_key(tmp_path, env={"REPRO_KEY_PASSWORD": "right"})
    options = ReleaseOptions(
        BuildSpec(context), image="app:1.0", key=tmp_path / ".repro" / "release.key", workdir=tmp_path
    )
    with pytest.raises(ReleaseError) as caught:
        release(options, config=Config(), env={"REPRO_KEY_PASSWORD": "wrong"})
    assert caught.value.exit_code == EXIT_RELEASE_SIGN
    assert "wrong passphrase" in str(caught.value)
    report = caught.value.report
    assert isinstance(report, ReleaseReport)
    assert [s.name for s in report.stages] == ["sign"]


def test_options_that_cannot_work_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(UsageError, match="keyless"):
        release(
            ReleaseOptions(BuildSpec(tmp_path), image="app:1", sign="keyless", key=tmp_path / "k.key"),
            config=Config(),
        )
    with pytest.raises(UsageError, match="not a directory"):
        release(ReleaseOptions(BuildSpec(tmp_path / "missing"), image="app:1"), config=Config())


def test_cli_exit_code_names_the_stage_and_the_report_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPRO_KEY_PASSWORD", "pass phrase")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    (tmp_path / "Dockerfile").write_text("FROM busybox\nUSER 1000\n")
    report_file = tmp_path / "out" / "report.json"
    assert main(["release", ".", "--image", "app:1.0", "--report", str(report_file)]) == EXIT_RELEASE_PIN
    captured = capsys.readouterr()
    assert "repro: error: release stopped at the pin stage" in captured.err
    assert "hint: run 'repro pin'" in captured.err
    assert "repro release: pin: FAILED" in captured.err
    assert "## repro release: app:1.0 — failed" in captured.out
    assert "Stopped at the `pin` stage" in summary.read_text()
    assert json.loads(report_file.read_text())["error"]["stage"] == "pin"
    assert not (tmp_path / "dist").exists()  # the default report is written only beside a release


# -- the report --------------------------------------------------------------------------------


SBOM_OLD = {
    "bomFormat": "CycloneDX",
    "components": [
        {"type": "library", "name": "libc6", "version": "2.36-9", "purl": "pkg:deb/debian/libc6@2.36-9"},
        {"type": "library", "name": "gone", "version": "1", "purl": "pkg:deb/debian/gone@1"},
    ],
}
SBOM_NEW = {
    "bomFormat": "CycloneDX",
    "components": [
        {"type": "library", "name": "libc6", "version": "2.36-10", "purl": "pkg:deb/debian/libc6@2.36-10"},
        {"type": "library", "name": "requests", "version": "2.32", "purl": "pkg:pypi/requests@2.32"},
        {"type": "file", "name": "bin/tool"},
    ],
}


def released_report() -> ReleaseReport:
    report = ReleaseReport(image="registry.example/app:1.0", destination="registry.example/app:1.0")
    for name in ("source", "pin", "build", "sbom", "policy", "sign", "push", "verify-image", "tag"):
        report.stages.append(StageRecord(name, "passed", 1.25, f"{name} ok"))
    report.digest = DIGEST
    report.digests = (DIGEST, DIGEST)
    report.reproducible = True
    report.sbom_components = sbom_counts(json.dumps(SBOM_NEW).encode())
    report.sbom_diff = diff_sboms(SBOM_OLD, SBOM_NEW)
    report.previous_sbom = "registry.example/app:0.9"
    report.signer = "key abc="
    report.attestations = [{"predicateType": "https://slsa.dev/provenance/v1", "referrer": DIGEST}]
    report.verified = [
        {"predicateType": "https://slsa.dev/provenance/v1", "referrer": DIGEST, "signer": "key abc="}
    ]
    report.referrers = [DIGEST, DIGEST]
    report.pinned = f"registry.example/app:1.0@{DIGEST}"
    return report


def test_sbom_counts_group_by_purl_type() -> None:
    assert sbom_counts(json.dumps(SBOM_NEW).encode()) == {"deb": 1, "file": 1, "pypi": 1}


def test_markdown_summary_of_a_release() -> None:
    text = released_report().to_markdown()
    assert text.startswith("## repro release: registry.example/app:1.0 — released\n")
    assert "| build | passed | 1.2 s | build ok |" in text
    assert f"- digest: `{DIGEST}`" in text
    assert "- reproducible: yes" in text
    assert f"- published: `registry.example/app:1.0@{DIGEST}`" in text
    assert "- 3 component(s): 1 deb, 1 file, 1 pypi" in text
    assert "#### Package changes since `registry.example/app:0.9`" in text
    assert "| libc6 | deb | 2.36-9 | 2.36-10 | upgraded |" in text
    assert "- `requests` 2.32 (pypi)" in text
    assert f"| `https://slsa.dev/provenance/v1` | `{DIGEST}` | yes |" in text


def test_markdown_summary_of_a_failed_release_says_what_ran() -> None:
    report = ReleaseReport(image="app:1.0")
    report.stages.append(StageRecord("pin", "passed", 0.1, "1 pinned"))
    report.stages.append(StageRecord("build", "failed", 9.0, "not | reproducible"))
    report.digests = (DIGEST, "sha256:" + "b" * 64)
    report.reproducible = False
    report.diff_text = "\n".join(f"line {i}" for i in range(100))
    report.error = {"stage": "build", "message": "not reproducible", "hint": "see below", "exit_code": 31}
    text = report.to_markdown()
    assert "— failed" in text
    assert "**Stopped at the `build` stage:** not reproducible" in text
    assert "| build | **failed** | 9.0 s | not \\| reproducible |" in text
    assert "| sign | not run | | |" in text
    assert "- reproducible: **no**" in text
    assert "line 79\n… 20 more line(s)" in text
    assert report.failed_stage == "build"


def test_json_report_round_trips_and_step_summary_appends(tmp_path: Path) -> None:
    report = released_report()
    path = tmp_path / "a" / "release.json"
    write_json_report(report, path)
    data = json.loads(path.read_text())
    assert data["status"] == "released"
    assert data["version"] == 1
    assert data["sbom"]["component_total"] == 3
    assert data["sbom"]["diff"]["upgraded"][0]["name"] == "libc6"
    assert [s["name"] for s in data["stages"]][-1] == "tag"
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    assert append_step_summary(report, {"GITHUB_STEP_SUMMARY": str(summary)}) == summary
    assert summary.read_text().startswith("# earlier step\n## repro release:")
    assert append_step_summary(report, {}) is None


# -- progress --------------------------------------------------------------------------------------


def test_plain_progress_is_one_line_per_event() -> None:
    out = io.StringIO()
    progress = ConsoleProgress(out, live=False)
    progress(StageEvent("start", "build", "", 0.0))
    progress(StageEvent("step", "build", "[A] step 1/3: FROM x", 0.5))
    progress(StageEvent("done", "build", "reproducible", 3.25))
    progress(StageEvent("failed", "sign", "no key", 0.1))
    assert out.getvalue().splitlines() == [
        "repro release: build: started",
        "repro release: build: [A] step 1/3: FROM x  (+0.5 s)",
        "repro release: build: passed in 3.2 s: reproducible",
        "repro release: sign: FAILED in 0.1 s: no key",
    ]


def test_live_progress_redraws_the_running_stage_and_leaves_a_line_per_stage() -> None:
    out = io.StringIO()
    progress = ConsoleProgress(out, live=True, environ={})
    progress(StageEvent("start", "build", "", 0.0))
    progress(StageEvent("step", "build", "step 1/3", 0.5))
    progress(StageEvent("done", "build", "reproducible", 3.0))
    progress.close()
    text = out.getvalue()
    assert "  done build  3.0s: reproducible\n" in text
    assert text.count("done build") == 1
