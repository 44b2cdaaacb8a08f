"""Every policy fix is something the engine that builds the Dockerfile can build."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.build.capabilities import Capabilities, find_unsupported
from repro.dockerfile import parse
from repro.policy import ReleaseFacts, check_paths, check_release
from repro.policy.findings import Report
from repro.policy.input import engine_doc

DOCKERFILE = "FROM busybox@sha256:" + "ab" * 32 + "\nADD https://example.com/tool.tgz /opt/\nUSER 65534\n"


def add_fix(report: Report) -> str:
    fixes = [f.fix for f in report.findings if f.id == "REPRO-ADD-001"]
    assert len(fixes) == 1
    return fixes[0]


@pytest.fixture
def dockerfile(tmp_path: Path) -> Path:
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE)
    return path


def test_an_engine_without_add_checksum_is_told_to_check_the_hash_in_a_run(dockerfile: Path) -> None:
    buildah = Capabilities(engine="buildah 1.28.2", secrets=True)
    report = check_release(dockerfile, ReleaseFacts(engine=buildah))
    fix = add_fix(report)
    assert "sha256sum -c" in fix
    assert "buildah 1.28.2 cannot build ADD --checksum" in fix
    # and what it says to write builds with that engine
    advised = parse(
        b"FROM busybox\nRUN wget -O /a.tgz https://e.com/a && echo 'x  /a.tgz' | sha256sum -c -\n"
    )
    assert find_unsupported(advised, buildah) == []


def test_an_engine_with_add_checksum_is_told_to_use_it(dockerfile: Path) -> None:
    report = check_release(
        dockerfile, ReleaseFacts(engine=Capabilities(engine="docker 27", add_checksum=True))
    )
    assert add_fix(report) == "add --checksum=sha256:<hex> so that the download is verified"


def test_without_an_engine_the_fix_works_everywhere(dockerfile: Path) -> None:
    fix = add_fix(check_paths([dockerfile]))
    assert fix.startswith("download it in a RUN step and check its hash")


def test_engine_document() -> None:
    assert engine_doc(None) is None
    doc = engine_doc(Capabilities(engine="e 1", heredocs=True))
    assert doc is not None
    assert doc["name"] == "e 1"
    assert doc["capabilities"]["heredocs"] is True
    assert doc["capabilities"]["add_checksum"] is False
