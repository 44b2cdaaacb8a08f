"""Writing into a read-only directory (a read-only bind mount, as CI checkouts and
containers often have): a clean error with its documented exit code, no traceback, and
nothing changed. Root ignores file modes, so the directory is made read-only the way the
kernel enforces for everyone: a read-only bind mount of it onto itself.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.cli import main
from repro.errors import EXIT_CONFIG, EXIT_FILE_ACCESS, EXIT_PARTIAL

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a read-only bind mount needs root")


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "ro"
    directory.mkdir()
    yield directory
    # Lazily: a process that still has it as its working directory must not keep it mounted.
    subprocess.run(["umount", "--lazy", str(directory)], check=False, capture_output=True)


def _seal(directory: Path) -> None:
    subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True)
    with pytest.raises(OSError, match="Read-only file system"):
        (directory / "probe").write_text("x")


def test_pin_in_a_read_only_directory_changes_nothing(
    base_images: BaseImages,
    read_only: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    dockerfile = read_only / "Dockerfile"
    text = f"FROM {base_images.host}/busybox:1.36\nRUN true\n"
    dockerfile.write_text(text)
    _seal(read_only)

    # The lock file cannot be written: refused before any Dockerfile is touched.
    assert main(["pin", str(read_only)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "not writable; nothing was written" in err
    assert "Traceback" not in err

    # Without a lock file, the Dockerfile itself cannot be replaced: reported per file.
    code = main(["pin", "--no-lock", str(read_only)])
    err = capsys.readouterr().err
    assert code == EXIT_PARTIAL, err
    assert str(dockerfile) in err
    assert "Read-only file system" in err or "not writable" in err
    assert "Traceback" not in err
    assert dockerfile.read_text() == text
    assert sorted(p.name for p in read_only.iterdir()) == ["Dockerfile"]


def test_build_and_sbom_outputs_in_a_read_only_directory(
    base_images: BaseImages,
    read_only: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    app = tmp_path / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(f"FROM {base_images.busybox.pinned}\nRUN echo built > /built\n")
    _seal(read_only)

    started = time.monotonic()
    code = main(["build", str(app), "-o", f"oci:{read_only / 'image'}"])
    err = capsys.readouterr().err
    assert code == EXIT_FILE_ACCESS, err
    assert str(read_only / "image") in err
    assert "Traceback" not in err
    assert time.monotonic() - started < 2, "refused before building, not after"
    assert not (read_only / "image").exists()

    out = read_only / "sbom.json"
    code = main(
        ["sbom", f"oci:{base_images.busybox.layout}:{base_images.busybox.tag}", "-o", f"cyclonedx-json={out}"]
    )
    err = capsys.readouterr().err
    assert code == EXIT_FILE_ACCESS, err
    assert f"{out}: Read-only file system" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_release_from_a_read_only_directory_fails_before_building(
    base_images: BaseImages,
    read_only: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The work directory (``dist/``, ``.repro/``) is the current one: read-only, nothing runs."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(f"FROM {base_images.busybox.pinned}\nRUN echo built > /built\n")
    _seal(read_only)
    monkeypatch.chdir(read_only)
    started = time.monotonic()
    code = main(["release", str(app), "--image", "registry.example/app:1.0"])
    err = capsys.readouterr().err
    assert code == EXIT_FILE_ACCESS, err
    assert "Read-only file system" in err
    assert "Traceback" not in err
    assert time.monotonic() - started < 2
