"""Findings as the gate reports them, the configuration applied to them, and their renderings.

The policies give raw findings; :func:`judge` applies ``[tool.repro.policy]`` (disabled
rules dropped, severities overridden, exceptions turning a finding "excepted" until they
expire) and returns a :class:`Report`, which renders as a human table grouped by file,
JSON, SARIF 2.1.0 (for code scanning) or GitHub workflow annotations.

A report denies when an ``error`` finding is not excepted: ``repro policy check`` then
exits 1. Warnings and notes are shown and never fail.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

from repro import __version__
from repro.config import PolicyConfig, PolicyException
from repro.policy.engine import SEVERITIES, RuleInfo

__all__ = [
    "EXPIRED_EXCEPTION_RULE",
    "PolicyFinding",
    "Report",
    "judge",
    "render",
    "render_github",
    "render_human",
    "render_json",
    "render_sarif",
]

#: The id under which an expired exception is reported (an error: it fails the check).
EXPIRED_EXCEPTION_RULE: Final = "REPRO-EXC-001"
SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
Status = Literal["open", "excepted"]
_SARIF_LEVEL: Final = {"error": "error", "warning": "warning", "note": "note"}

_EXPIRED_RULE_INFO: Final = RuleInfo(
    id=EXPIRED_EXCEPTION_RULE,
    title="Policy exception expired",
    severity="error",
    fix="fix what the exception excused, or renew it with a new expiry date and reason",
    hadolint=None,
    stage="lint",
    package="repro (configuration)",
)


@dataclass(frozen=True)
class PolicyFinding:
    """One problem a policy found, after the configuration was applied."""

    id: str
    severity: str
    message: str
    fix: str = ""
    file: str | None = None
    line: int | None = None
    image: str | None = None
    status: Status = "open"
    exception: PolicyException | None = None

    @property
    def denies(self) -> bool:
        return self.severity == "error" and self.status == "open"

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "file": self.file,
            "line": self.line,
            "status": self.status,
        }
        if self.image is not None:
            doc["image"] = self.image
        if self.exception is not None:
            doc["exception"] = {
                "reason": self.exception.reason,
                "expires": self.exception.expires.isoformat(),
            }
        return doc


@dataclass(frozen=True)
class Report:
    """The outcome of a policy check over one or more input documents."""

    stage: str
    findings: tuple[PolicyFinding, ...]
    rules: Mapping[str, RuleInfo] = field(default_factory=dict)
    documents: tuple[str, ...] = ()  # what was evaluated (Dockerfiles, input files)

    @property
    def denied(self) -> bool:
        return any(f.denies for f in self.findings)

    @property
    def exit_code(self) -> int:
        from repro.errors import EXIT_CHECK_FAILED, EXIT_OK

        return EXIT_CHECK_FAILED if self.denied else EXIT_OK

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        counts["excepted"] = 0
        for finding in self.findings:
            counts["excepted" if finding.status == "excepted" else finding.severity] += 1
        return counts

    def summary(self) -> str:
        c = self.counts()
        verdict = "denied" if self.denied else "passed"
        return (
            f"{verdict}: {c['error']} error(s), {c['warning']} warning(s), {c['note']} note(s), "
            f"{c['excepted']} excepted in {len(self.documents)} document(s)"
        )

    def to_json(self) -> dict[str, Any]:
        used = {f.id for f in self.findings}
        return {
            "version": 1,
            "stage": self.stage,
            "passed": not self.denied,
            "counts": self.counts(),
            "documents": list(self.documents),
            "findings": [f.to_json() for f in self.findings],
            "rules": [self.rules[r].to_json() for r in sorted(used) if r in self.rules],
        }


# --- applying the configuration ---------------------------------------------------------


def _relative(file: str, base_dir: Path | None) -> str:
    """``file`` relative to the configuration's directory, in POSIX form, for globbing."""
    if base_dir is None:
        return PurePosixPath(Path(file)).as_posix()
    try:
        return Path(file).resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return Path(file).as_posix()


def _matches(exception: PolicyException, finding: PolicyFinding, base_dir: Path | None) -> bool:
    if exception.rule != finding.id:
        return False
    if exception.path is not None:
        if finding.file is None:
            return False
        relative = _relative(finding.file, base_dir)
        if not (
            fnmatch.fnmatchcase(relative, exception.path) or fnmatch.fnmatchcase(finding.file, exception.path)
        ):
            return False
    if exception.image is not None:
        return finding.image is not None and fnmatch.fnmatchcase(finding.image, exception.image)
    return True


def _describe(exception: PolicyException) -> str:
    scope = [f"path {exception.path!r}"] if exception.path else []
    scope += [f"image {exception.image!r}"] if exception.image else []
    return f"exception for {exception.rule}" + (f" ({', '.join(scope)})" if scope else "")


def judge(
    raw: Iterable[Mapping[str, Any]],
    config: PolicyConfig,
    *,
    today: datetime.date | None = None,
    config_file: str | None = None,
) -> list[PolicyFinding]:
    """Apply the configuration to raw findings: disable, re-grade, except; report expired exceptions.

    An exception is live through its ``expires`` date. An expired one is never applied and
    is itself reported as an error finding (:data:`EXPIRED_EXCEPTION_RULE`) with its reason
    and date, whether or not anything still matches it.
    """
    today = today or datetime.datetime.now(datetime.UTC).date()
    live = [e for e in config.exceptions if e.expires >= today]
    findings: list[PolicyFinding] = []
    for item in raw:
        rule = str(item["id"])
        if rule in config.disable:
            continue
        finding = PolicyFinding(
            id=rule,
            severity=config.severity.get(rule, str(item["severity"])),
            message=str(item["message"]),
            fix=str(item.get("fix") or ""),
            file=item.get("file"),
            line=item.get("line"),
            image=item.get("image"),
        )
        exception = next((e for e in live if _matches(e, finding, config.base_dir)), None)
        if exception is not None:
            finding = PolicyFinding(**{**finding.__dict__, "status": "excepted", "exception": exception})
        findings.append(finding)
    for exception in config.exceptions:
        if exception.expires < today:
            findings.append(
                PolicyFinding(
                    id=EXPIRED_EXCEPTION_RULE,
                    severity="error",
                    message=(
                        f"{_describe(exception)} expired on {exception.expires.isoformat()} "
                        f"(reason given: {exception.reason})"
                    ),
                    fix=_EXPIRED_RULE_INFO.fix,
                    file=config_file,
                )
            )
    return findings


def rules_with_builtin(rules: Mapping[str, RuleInfo]) -> dict[str, RuleInfo]:
    """The policies' rules plus repro's own (the expired-exception rule)."""
    return {**rules, EXPIRED_EXCEPTION_RULE: _EXPIRED_RULE_INFO}


# --- renderers --------------------------------------------------------------------------


def render_human(report: Report) -> str:
    """A table grouped by file: line, severity, rule, message, and the fix under it."""
    if not report.findings:
        return ""
    groups: dict[str, list[PolicyFinding]] = {}
    for finding in report.findings:
        groups.setdefault(finding.file or "(image)", []).append(finding)
    out: list[str] = []
    for file, items in groups.items():
        out.append(file)
        id_width = max(len(f.id) for f in items)
        for f in items:
            line = str(f.line) if f.line is not None else "-"
            label = "excepted" if f.status == "excepted" else f.severity
            out.append(f"  {line:>5}  {label:<8} {f.id:<{id_width}}  {f.message}")
            pad = " " * (2 + 5 + 2 + 9 + id_width + 2)
            if f.status == "excepted" and f.exception is not None:
                out.append(f"{pad}excepted until {f.exception.expires.isoformat()}: {f.exception.reason}")
            elif f.fix:
                out.append(f"{pad}fix: {f.fix}")
        out.append("")
    return "\n".join(out)


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"


def _sarif_uri(file: str) -> dict[str, str]:
    path = Path(file)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": PurePosixPath(path.as_posix()).as_posix(), "uriBaseId": "%SRCROOT%"}


def _sarif_rule(info: RuleInfo) -> dict[str, Any]:
    properties: dict[str, Any] = {"tags": ["container", "supply-chain"], "stage": info.stage}
    if info.hadolint:
        properties["hadolint"] = info.hadolint
    return {
        "id": info.id,
        "name": "".join(word.capitalize() for word in info.title.replace("-", " ").split() if word.isalnum())
        or info.id,
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": f"{info.title}. Fix: {info.fix}" if info.fix else info.title},
        "help": {"text": info.fix or info.title},
        "defaultConfiguration": {"level": _SARIF_LEVEL[info.severity]},
        "properties": properties,
    }


def render_sarif(report: Report) -> str:
    """SARIF 2.1.0: every known rule with its metadata, each finding a result at file:line."""
    rules = dict(report.rules)
    for finding in report.findings:  # a user policy without a `rules` table still gets one
        rules.setdefault(
            finding.id,
            RuleInfo(finding.id, finding.id, finding.severity, finding.fix, None, report.stage, "(unknown)"),
        )
    ordered = sorted(rules)
    index = {rule: i for i, rule in enumerate(ordered)}
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.id,
            "ruleIndex": index[f.id],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.message}. Fix: {f.fix}" if f.fix else f.message},
        }
        if f.file is not None:
            physical: dict[str, Any] = {"artifactLocation": _sarif_uri(f.file)}
            if f.line is not None and f.line >= 1:
                physical["region"] = {"startLine": f.line}
            result["locations"] = [{"physicalLocation": physical}]
        if f.status == "excepted" and f.exception is not None:
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"{f.exception.reason} (until {f.exception.expires.isoformat()})",
                }
            ]
        if f.image is not None:
            result["properties"] = {"image": f.image}
        results.append(result)
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "repro",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_sarif_rule(rules[r]) for r in ordered],
                    }
                },
                "results": results,
                "properties": {"stage": report.stage},
            }
        ],
    }
    return json.dumps(sarif, indent=2, sort_keys=True) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report) -> str:
    """GitHub workflow commands: one ``::error``/``::warning``/``::notice`` per finding."""
    lines = []
    for f in report.findings:
        command = {"error": "error", "warning": "warning", "note": "notice"}[f.severity]
        title = f.id
        if f.status == "excepted":
            command, title = "notice", f"{f.id} (excepted)"
        props = []
        if f.file is not None:
            props.append(f"file={_escape_property(f.file)}")
            if f.line is not None:
                props.append(f"line={f.line}")
        props.append(f"title={_escape_property(title)}")
        message = f"{f.message}\nfix: {f.fix}" if f.fix else f.message
        lines.append(f"::{command} {','.join(props)}::{_escape_data(message)}")
    return "".join(line + "\n" for line in lines)


def render(report: Report, fmt: str) -> str:
    """The report in ``fmt``: human, json, sarif or github."""
    renderers = {"human": render_human, "json": render_json, "sarif": render_sarif, "github": render_github}
    return renderers[fmt](report)


def sorted_findings(findings: Sequence[PolicyFinding]) -> tuple[PolicyFinding, ...]:
    order = {severity: i for i, severity in enumerate(SEVERITIES)}
    return tuple(
        sorted(
            findings,
            key=lambda f: (f.file or "\uffff", f.line or 0, order.get(f.severity, 9), f.id, f.message),
        )
    )
