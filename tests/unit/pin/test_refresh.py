"""refresh_paths: rewrite moved digests in place and summarise them."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.errors import RegistryError, RegistryUnreachableError
from repro.lock import read_lock
from repro.pin import FindingKind, pin_paths, refresh_paths
from repro.pin.render import refresh_markdown
from tests.unit.pin.helpers import NOW, TableResolver, fake_digest, index

CANON = "docker.io/library/debian:bookworm"


def _moved() -> TableResolver:
    table = TableResolver().table
    table[CANON] = index("debian, a week later", "linux/amd64", "linux/arm64")
    return TableResolver(table)


def test_refresh_rewrites_moved_digests_everywhere(tmp_path: Path) -> None:
    a = tmp_path / "Dockerfile"
    a.write_text("ARG BASE=debian:bookworm\nFROM ${BASE}\nFROM busybox:1.36\n")
    b = tmp_path / "sub" / "Containerfile"
    b.parent.mkdir()
    b.write_text("FROM docker.io/library/debian:bookworm\nFROM alpine:3.20\n")
    pin_paths([tmp_path], client=TableResolver(), now=lambda: NOW)
    old = fake_digest(CANON)
    new = fake_digest("debian, a week later")
    assert str(old) in a.read_text()

    report = refresh_paths([tmp_path], client=_moved(), now=lambda: NOW.replace(day=29))
    assert report.changed
    [change] = report.changes
    assert (change.old, change.new, change.text) == (old, new, "debian:bookworm")
    assert [str(s) for s in change.sites] == [f"{a}:1", f"{b}:1"]
    assert (
        a.read_text()
        == f"ARG BASE=debian:bookworm@{new}\nFROM ${{BASE}}\nFROM busybox:1.36@{fake_digest('docker.io/library/busybox:1.36')}\n"
    )
    assert b.read_text().startswith(f"FROM docker.io/library/debian:bookworm@{new}\n")
    lock = read_lock(tmp_path / "repro.lock")
    assert lock is not None
    entry = lock.images[CANON]
    assert entry.digest == new
    assert entry.resolved_at == "2026-11-29T07:30:00Z"
    assert lock.images["docker.io/library/busybox:1.36"].resolved_at == "2026-11-28T07:30:00Z"

    markdown = refresh_markdown(report)
    assert "| `debian:bookworm` |" in markdown
    assert f"`{old}`" in markdown
    assert f"`{new}`" in markdown
    assert f"`{a}:1`" in markdown
    assert f"`{b}:1`" in markdown

    again = refresh_paths([tmp_path], client=_moved())
    assert not again.changed
    assert refresh_markdown(again).startswith("No base image updates: all 4 pinned")


def test_refresh_leaves_unpinned_refs_to_pin(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM debian:bookworm\n")
    report = refresh_paths([tmp_path], client=TableResolver())
    assert not report.changed
    assert path.read_text() == "FROM debian:bookworm\n"
    assert [n.kind for n in report.notes] == [FindingKind.NOTE]


def test_refresh_dry_run(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM debian:bookworm\n")
    pin_paths([tmp_path], client=TableResolver())
    before = path.read_bytes()
    report = refresh_paths([tmp_path], client=_moved(), dry_run=True)
    assert report.changed
    assert path.read_bytes() == before
    assert "dry run" in refresh_markdown(report)


def test_refresh_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM debian:bookworm\nFROM alpine:3.20\n")
    pin_paths([tmp_path], client=TableResolver())
    before = path.read_bytes()
    moved_but_down = _moved()
    moved_but_down.fail["docker.io/library/alpine:3.20"] = RegistryUnreachableError("refused")
    with pytest.raises(RegistryError, match="refused"):
        refresh_paths([tmp_path], client=moved_but_down, fail_fast=True)
    assert path.read_bytes() == before
