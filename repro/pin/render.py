"""Turning pin/check/refresh reports into text: human lines, GitHub annotations, Markdown.

Pure functions of a report; the CLI picks one and prints it.
"""

from __future__ import annotations

from repro.pin.model import Action, CheckReport, FindingKind, PinFinding, PinReport, RefreshReport

__all__ = [
    "check_github",
    "check_human",
    "failures_human",
    "github_annotation",
    "pin_diff",
    "pin_human",
    "refresh_human",
    "refresh_markdown",
]


def pin_human(report: PinReport) -> str:
    """One line per reference pinned or updated, then notes."""
    lines: list[str] = []
    for result in report.results:
        if result.action in (Action.PINNED, Action.UPDATED):
            via = f" ({result.reason})" if result.reason else ""
            lines.append(f"{result.site}: {result.action} {result.text} -> {result.new_text}{via}")
    lines.extend(f"{_where(note)}: {_label(note)}: {note.message}" for note in report.notes)
    return "".join(line + "\n" for line in lines)


def failures_human(failures: tuple[PinFinding, ...]) -> str:
    """``file:line: failed: reason`` for each file or reference left undone."""
    return "".join(f"{_where(f)}: failed: {f.message}\n" for f in failures)


def _where(finding: PinFinding) -> str:
    return str(finding.site) if finding.site.line else finding.site.file


def pin_diff(report: PinReport) -> str:
    """The unified diff of every change (``--dry-run``)."""
    return "".join(change.unified_diff() for change in report.changes)


def _label(finding: PinFinding) -> str:
    return "note" if finding.kind is FindingKind.NOTE else str(finding.kind)


def check_human(report: CheckReport) -> str:
    """``file:line: kind: message`` per finding."""
    return "".join(f"{_where(f)}: {_label(f)}: {f.message}\n" for f in report.findings)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(finding: PinFinding, *, title: str = "repro pin") -> str:
    """A GitHub Actions workflow command: ``::error file=F,line=L,title=T::message``."""
    level = "notice" if finding.kind is FindingKind.NOTE else "error"
    props = (
        f"file={_escape_property(finding.site.file)},line={finding.site.line},title={_escape_property(title)}"
    )
    return f"::{level} {props}::{_escape_data(finding.message)}"


def check_github(report: CheckReport) -> str:
    """Every finding as a workflow annotation (notes as ``::notice``)."""
    return "".join(github_annotation(f) + "\n" for f in report.findings)


def refresh_human(report: RefreshReport) -> str:
    lines = [
        f"{site}: {change.text} {change.old} -> {change.new}"
        for change in report.changes
        for site in change.sites
    ]
    return "".join(line + "\n" for line in lines)


def _code(text: str) -> str:
    return f"`{text.replace('`', '')}`"


def refresh_markdown(report: RefreshReport) -> str:
    """A pull-request body: one table row per image that moved, with every file:line."""
    if not report.changes:
        return f"No base image updates: all {report.checked} pinned image references are current.\n"
    count = len(report.changes)
    lines = [
        "## Base image updates",
        "",
        f"{count} pinned image{'s' if count != 1 else ''} moved to a new digest"
        f"{' (dry run: nothing written)' if report.dry_run else ''}.",
        "",
        "| Image | Old digest | New digest | Where |",
        "| --- | --- | --- | --- |",
    ]
    for change in report.changes:
        where = "<br>".join(_code(str(site)) for site in change.sites)
        lines.append(
            f"| {_code(change.text)} | {_code(str(change.old))} | {_code(str(change.new))} | {where} |"
        )
    notes = [n for n in report.notes if n.kind is not FindingKind.NOTE]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {_code(str(n.site))}: {n.message}" for n in notes]
    return "\n".join(lines) + "\n"
