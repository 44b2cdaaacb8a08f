"""``repro pin`` on a tree, as a monorepo is: what can be pinned is, the rest is reported.

Against a real Distribution registry, with a registry that cannot be reached for others,
and three real ``repro pin`` processes sharing one lock file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.cli import main
from repro.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_PARTIAL

GONE = "127.0.0.1:9"  # nothing listens on the discard port here
PINNED_GONE = "sha256:" + "5" * 64


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _config(tmp_path: Path, host: str) -> Path:
    return _write(
        tmp_path / "repro.toml",
        f'timeout = 5\n\n[registries."{host}"]\ninsecure = true\n\n[registries."{GONE}"]\ninsecure = true\n',
    )


def test_a_tree_pins_everything_it_can_and_reports_the_rest(
    base_images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = base_images.host
    busybox = base_images.busybox_1_36.digest
    multi = base_images.multi.digest
    tree = tmp_path / "tree"
    files = {
        "ok/Dockerfile": (f"FROM {host}/busybox:1.36\n", f"FROM {host}/busybox:1.36@{busybox}\n"),
        "malformed/Dockerfile": (f"FROM {host}/busybox:1.36\nFROM\n", None),
        "tools/Dockerfile.go": ("package tools\n", None),
        "tmpl/Dockerfile.template": ("FROM {{ .Base }}\nRUN {{ .Cmd }}\n", None),
        "pinned-gone/Dockerfile": (f"FROM {GONE}/gone/img:1@{PINNED_GONE}\n", None),
        "unpinned-gone/Dockerfile": (f"FROM {GONE}/gone/img:1\nFROM {host}/multi:latest\n",
                                     f"FROM {GONE}/gone/img:1\nFROM {host}/multi:latest@{multi}\n"),
        "args/Dockerfile": (
            f'ARG TAG="1.36"\nARG IMG={host}/multi:latest\nARG R=busybox\n'
            f"FROM {host}/busybox:${{TAG}} AS a\nFROM {host}/${{R}}:1.36 AS b\n"
            "FROM scratch\nCOPY --from=$IMG /bin /bin\nCOPY --from=a /x /x\nRUN echo done \\\n",
            f'ARG TAG="1.36@{busybox}"\nARG IMG={host}/multi:latest@{multi}\nARG R=busybox\n'
            f"FROM {host}/busybox:${{TAG}} AS a\nFROM {host}/${{R}}:1.36@{busybox} AS b\n"
            "FROM scratch\nCOPY --from=$IMG /bin /bin\nCOPY --from=a /x /x\nRUN echo done \\\n",
        ),
    }  # fmt: skip
    for name, (text, _) in files.items():
        _write(tree / name, text)
    config = _config(tmp_path, host)

    code = main(["--config", str(config), "pin", "--json", str(tree)])
    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_PARTIAL
    for name, (text, pinned) in files.items():
        assert (tree / name).read_text() == (pinned or text), name
    status = {Path(f["file"]).relative_to(tree).as_posix(): f["status"] for f in report["files"]}
    assert status == {
        "args/Dockerfile": "pinned",
        "malformed/Dockerfile": "failed",
        "ok/Dockerfile": "pinned",
        "pinned-gone/Dockerfile": "unchanged",
        "tmpl/Dockerfile.template": "skipped",
        "tools/Dockerfile.go": "skipped",
        "unpinned-gone/Dockerfile": "failed",
    }
    failures = {(Path(f["file"]).relative_to(tree).as_posix(), f["line"]) for f in report["failures"]}
    assert failures == {("malformed/Dockerfile", 2), ("unpinned-gone/Dockerfile", 1)}
    # The pinned reference on the unreachable registry is in its lock, unverified.
    lock = json.loads((tree / "pinned-gone" / "repro.lock").read_text())["images"]
    assert lock[f"{GONE}/gone/img:1"] == {
        "digest": PINNED_GONE, "files": ["Dockerfile"], "media_type": None, "platforms": {},
        "resolved_at": lock[f"{GONE}/gone/img:1"]["resolved_at"], "tag": "1", "verified": False,
    }  # fmt: skip
    # Idempotent, and the gate agrees: the unpinned reference fails the check.
    assert main(["--config", str(config), "pin", str(tree)]) == EXIT_PARTIAL
    for name, (text, pinned) in files.items():
        assert (tree / name).read_text() == (pinned or text), name
    assert main(["pin", "--check", str(tree)]) == EXIT_CHECK_FAILED
    out = capsys.readouterr().out
    assert f"{tree / 'unpinned-gone' / 'Dockerfile'}:1: unpinned" in out
    assert f"{tree / 'malformed' / 'Dockerfile'}:2: failed" in out
    assert (
        main(["pin", "--check", str(tree / "ok"), str(tree / "args"), str(tree / "pinned-gone")]) == EXIT_OK
    )


def test_fail_fast_is_all_or_nothing(base_images: BaseImages, tmp_path: Path) -> None:
    host = base_images.host
    ok = _write(tmp_path / "t" / "ok" / "Dockerfile", f"FROM {host}/busybox:1.36\n")
    _write(tmp_path / "t" / "gone" / "Dockerfile", f"FROM {GONE}/gone/img:1\n")
    config = _config(tmp_path, host)
    assert main(["--config", str(config), "pin", "--fail-fast", str(tmp_path / "t")]) == 3
    assert ok.read_text() == f"FROM {host}/busybox:1.36\n"
    assert not (ok.parent / "repro.lock").exists()


def test_three_concurrent_pins_share_one_lock_file_and_lose_nothing(
    base_images: BaseImages, tmp_path: Path
) -> None:
    host = base_images.host
    config = _config(tmp_path, host)
    lock = tmp_path / "repro.lock"
    images = [f"{host}/busybox:1.36", f"{host}/multi:latest", f"{host}/busybox:latest"]
    env = {**os.environ, "REPRO_CONFIG": str(config)}
    for round_ in range(4):
        projects = []
        for index, image in enumerate(images):
            project = tmp_path / f"round{round_}" / f"p{index}"
            _write(project / "Dockerfile", f"FROM {image}\n")
            projects.append(project)
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "repro", "pin", "--lockfile", str(lock), str(project)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for project in projects
        ]
        for process in processes:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.decode()
        entries = json.loads(lock.read_text())["images"]
        for index, image in enumerate(images):
            wanted = f"round{round_}/p{index}/Dockerfile"
            assert wanted in entries[image]["files"], (round_, image, entries[image]["files"])
    # Every file of every round is still recorded: no run overwrote another's entries.
    entries = json.loads(lock.read_text())["images"]
    assert sum(len(e["files"]) for e in entries.values()) == 4 * len(images)
    assert not list(tmp_path.glob(".repro.lock.*.tmp"))
