"""The lock file location comes from --lockfile, else from the configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.cli import main


def test_configured_lockfile_is_read_by_pin_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = "sha256:" + "a" * 64
    (tmp_path / "Dockerfile").write_text(f"FROM busybox:1.36@{digest}\n")
    (tmp_path / "repro.toml").write_text('lockfile = "central.lock"\n')
    (tmp_path / "central.lock").write_text("not json")
    # the configured lock file is the one read: a broken one is reported by name
    code = main(["pin", "--check", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert "central.lock" in err
    # and an explicit --lockfile wins over the configuration
    (tmp_path / "other.lock").write_text(json.dumps({"version": 1, "images": {}}))
    main(["pin", "--check", "--lockfile", str(tmp_path / "other.lock"), str(tmp_path)])
    assert "central.lock" not in capsys.readouterr().err
