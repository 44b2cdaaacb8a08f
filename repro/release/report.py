"""What ``repro release`` did, stage by stage: the Markdown summary and the JSON report.

The pipeline (:mod:`repro.release.pipeline`) fills one :class:`ReleaseReport` as it goes;
when a stage fails the report still says what ran, what failed and why, so CI can show
it (``$GITHUB_STEP_SUMMARY``) next to the error.

    >>> report = ReleaseReport(image="registry.example/app:1.0")
    >>> report.stages.append(StageRecord("pin", "passed", 0.01, "1 image reference pinned"))
    >>> print(report.to_markdown().splitlines()[0])
    ## repro release: registry.example/app:1.0 — in progress
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from repro import redact
from repro.fsutil import atomic_write

if TYPE_CHECKING:
    from repro.policy import Report as PolicyReport
    from repro.sbom.diff import SbomDiff

__all__ = [
    "REPORT_VERSION",
    "STAGES",
    "ReleaseReport",
    "StageRecord",
    "append_step_summary",
    "write_json_report",
]

#: Bumped only when a key of the JSON report changes meaning; new keys do not bump it.
REPORT_VERSION: Final = 1
#: The stages in the order they run; ``tag`` is the last write (registry: after verify-image).
STAGES: Final = ("source", "pin", "build", "sbom", "policy", "sign", "push", "verify-image", "tag")
#: Lines of the not-reproducible diff report kept in the Markdown summary.
MAX_DIFF_LINES: Final = 80

StageStatus = Literal["passed", "failed", "skipped"]


@dataclass
class StageRecord:
    """One stage as it ran: status, wall time, a one-line summary, and its details (JSON)."""

    name: str
    status: StageStatus
    seconds: float
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "summary": self.summary,
            "details": self.details,
        }


@dataclass
class ReleaseReport:
    """Everything one release run learnt, filled in stage by stage (hence not frozen).

    ``destination`` is where the image goes (``host/path:tag`` or ``oci:DIR:TAG``);
    ``pinned`` what it was published as (``TARGET:TAG@DIGEST``) once the tag is written.
    """

    image: str
    destination: str | None = None
    stages: list[StageRecord] = field(default_factory=list)
    digest: str | None = None
    digests: tuple[str, ...] = ()
    reproducible: bool | None = None
    #: A multi-platform release: per platform image, its platform, digest, the digests of
    #: its two builds, whether they agreed, and its SBOM's components by type.
    platforms: list[dict[str, Any]] = field(default_factory=list)
    diff_text: str | None = None
    sbom_components: dict[str, int] = field(default_factory=dict)
    sbom_diff: SbomDiff | None = None
    previous_sbom: str | None = None
    policy: PolicyReport | None = None
    signer: str | None = None
    attestations: list[dict[str, str]] = field(default_factory=list)
    referrers: list[str] = field(default_factory=list)
    verified: list[dict[str, str]] = field(default_factory=list)
    pinned: str | None = None
    notes: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def status(self) -> Literal["released", "failed", "in progress"]:
        if self.error is not None or any(s.status == "failed" for s in self.stages):
            return "failed"
        return "released" if self.pinned is not None else "in progress"

    @property
    def failed_stage(self) -> str | None:
        return next((s.name for s in self.stages if s.status == "failed"), None)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    def stage(self, name: str) -> StageRecord | None:
        return next((s for s in self.stages if s.name == name), None)

    # -- JSON --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The report file (``--report``) and ``--json`` output (secrets redacted)."""
        return redact.redact_json(self._to_json())  # type: ignore[no-any-return]

    def _to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "status": self.status,
            "image": self.image,
            "destination": self.destination,
            "pinned": self.pinned,
            "digest": self.digest,
            "reproducible": self.reproducible,
            "digests": list(self.digests),
            "platforms": list(self.platforms),
            "seconds": round(self.seconds, 3),
            "stages": [s.to_json() for s in self.stages],
            "sbom": {
                "components": dict(sorted(self.sbom_components.items())),
                "component_total": sum(self.sbom_components.values()),
                "previous": self.previous_sbom,
                "diff": self.sbom_diff.to_json() if self.sbom_diff is not None else None,
            },
            "policy": self.policy.to_json() if self.policy is not None else None,
            "signer": self.signer,
            "attestations": list(self.attestations),
            "referrers": list(self.referrers),
            "verified": list(self.verified),
            "notes": list(self.notes),
            "error": self.error,
        }

    # -- Markdown ------------------------------------------------------------------------

    def to_markdown(self) -> str:
        """The summary for people: a pull request, a CI step summary, a terminal."""
        lines = [f"## repro release: {_code_free(self.image)} — {self.status}", ""]
        if self.error is not None:
            lines += [f"**Stopped at the `{self.error['stage']}` stage:** {_cell(self.error['message'])}"]
            if self.error.get("hint"):
                lines.append(f"Hint: {_cell(self.error['hint'])}")
            lines += ["", "Nothing was pushed; nothing was signed after the failing stage.", ""]
        lines += ["| stage | result | time | |", "|---|---|---|---|"]
        ran = {s.name: s for s in self.stages}
        for name in STAGES:
            record = ran.get(name)
            if record is None:
                lines.append(f"| {name} | not run | | |")
                continue
            mark = {"passed": "passed", "failed": "**failed**", "skipped": "skipped"}[record.status]
            lines.append(f"| {name} | {mark} | {record.seconds:.1f} s | {_cell(record.summary)} |")
        lines.append("")
        lines += self._image_section()
        lines += self._sbom_section()
        lines += self._policy_section()
        lines += self._signing_section()
        if self.diff_text:
            diff_lines = self.diff_text.rstrip("\n").splitlines()
            shown = diff_lines[:MAX_DIFF_LINES]
            if len(diff_lines) > MAX_DIFF_LINES:
                shown.append(f"… {len(diff_lines) - MAX_DIFF_LINES} more line(s) in the JSON report")
            lines += ["### Why the two builds differ", "", "```text", *shown, "```", ""]
        for note in self.notes:
            lines.append(f"> {note}")
        if self.notes:
            lines.append("")
        return redact.redact_text("\n".join(lines).rstrip("\n") + "\n")

    def _image_section(self) -> list[str]:
        if self.digest is None and not self.digests:
            return []
        lines = ["### Image", ""]
        if self.digest is not None:
            lines.append(f"- {'index ' if self.platforms else ''}digest: `{self.digest}`")
        for entry in self.platforms:
            lines.append(f"  - {_cell(entry['platform'])}: `{entry['digest']}`")
        if self.reproducible is not None:
            verdict = "yes, two independent builds gave one digest" if self.reproducible else "**no**"
            if self.reproducible and self.platforms:
                verdict = "yes, for each platform two independent builds gave one digest"
            lines.append(f"- reproducible: {verdict}")
            if not self.reproducible:
                lines += [f"  - build {i}: `{d}`" for i, d in enumerate(self.digests, 1)]
        if self.pinned is not None:
            lines.append(f"- published: `{self.pinned}`")
        elif self.destination is not None:
            lines.append(f"- destination: `{self.destination}` (not written)")
        lines.append("")
        return lines

    def _sbom_section(self) -> list[str]:
        per_platform = [e for e in self.platforms if "sbomComponents" in e]
        if per_platform:
            lines = ["### SBOM", ""]
            for entry in per_platform:
                counts = entry["sbomComponents"]
                kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
                total = sum(counts.values())
                lines.append(
                    f"- {_cell(entry['platform'])}: {total} component(s)" + (f": {kinds}" if kinds else "")
                )
            return [*lines, ""]
        if not self.sbom_components and self.sbom_diff is None:
            return []
        total = sum(self.sbom_components.values())
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.sbom_components.items()))
        lines = ["### SBOM", "", f"- {total} component(s)" + (f": {kinds}" if kinds else ""), ""]
        if self.sbom_diff is not None:
            since = f" since `{self.previous_sbom}`" if self.previous_sbom else ""
            lines += [f"#### Package changes{since}", "", self.sbom_diff.to_markdown().rstrip("\n"), ""]
        return lines

    def _policy_section(self) -> list[str]:
        if self.policy is None:
            return []
        lines = ["### Policy", "", f"{self.policy.summary()}", ""]
        shown = [f for f in self.policy.findings if f.severity != "note" or f.denies]
        if shown:
            lines += ["| severity | rule | where | message |", "|---|---|---|---|"]
            for f in shown:
                where = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "image")
                label = "excepted" if f.status == "excepted" else f.severity
                lines.append(f"| {label} | {f.id} | {_cell(where)} | {_cell(f.message)} |")
            lines.append("")
        return lines

    def _signing_section(self) -> list[str]:
        if not self.attestations and not self.referrers:
            return []
        lines = ["### Attestations", ""]
        if self.signer:
            lines.append(f"Signed by {_cell(self.signer)}.")
            lines.append("")
        if self.attestations:
            verified = {v["referrer"] for v in self.verified}
            if self.platforms:
                lines += [
                    "| about | predicate | bundle digest | verified from the destination |",
                    "|---|---|---|---|",
                ]
            else:
                lines += ["| predicate | bundle digest | verified from the destination |", "|---|---|---|"]
            for item in self.attestations:
                ok = "yes" if item["referrer"] in verified else "no"
                about = f"| {_cell(item.get('platform', ''))} " if self.platforms else ""
                lines.append(f"{about}| `{item['predicateType']}` | `{item['referrer']}` | {ok} |")
            lines.append("")
        if self.referrers:
            lines.append(f"{len(self.referrers)} referrer(s) attached (signed bundles and the plain SBOM).")
            lines.append("")
        return lines


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code_free(text: str) -> str:
    return text.replace("`", "'")


def write_json_report(report: ReleaseReport, path: Path) -> None:
    """Write the JSON report to ``path`` atomically (parent directories created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n").encode())


def append_step_summary(report: ReleaseReport, env: Mapping[str, str] | None = None) -> Path | None:
    """Append the Markdown summary to ``$GITHUB_STEP_SUMMARY`` when it is set; its path."""
    env = os.environ if env is None else env
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(report.to_markdown() + "\n")
    return path
