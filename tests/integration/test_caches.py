"""repro's caches with the real buildah: the same digest with a cache, from it, and without
one; ``--no-cache`` touches none of it; a warm build reuses buildah's layers, verify's
second build never does, and two builds at once on one cache both succeed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.cli import main
from repro.errors import EXIT_OK
from tests.integration.assets import make_context
from tests.programs import require_programs

pytestmark = pytest.mark.buildah


@pytest.fixture
def images(base_images: BaseImages, monkeypatch: pytest.MonkeyPatch) -> BaseImages:
    require_programs("buildah")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1704067200")
    return base_images


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    if not directory.exists():
        return {}
    return {
        str(path.relative_to(directory)): (path.stat().st_mtime_ns, path.stat().st_size)
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_builds_with_and_without_the_cache_give_one_digest(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "repro"

    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'first'}"]) == EXIT_OK
    digest = capsys.readouterr().out.strip()
    entries = sorted((cache / "normalize" / "entries").glob("*.json"))
    assert len(entries) == 3  # busybox, COPY, RUN
    assert (cache.stat().st_mode & 0o777) == 0o700

    # verify: both builds take every layer from the cache, and agree
    assert main(["verify", str(ctx)]) == EXIT_OK
    assert capsys.readouterr().out == f"reproducible {digest}\n"
    assert sorted((cache / "normalize" / "entries").glob("*.json")) == entries

    # --no-cache: the same image, and the cache is neither read nor written
    before = _snapshot(cache)
    assert main(["build", str(ctx), "--no-cache", "-o", f"oci:{tmp_path / 'fresh'}"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == digest
    assert _snapshot(cache) == before


def test_a_cache_others_may_write_is_refused_before_building(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    shared = tmp_path / "shared-cache"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("REPRO_CACHE_DIR", str(shared))
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'out'}"]) == 78
    err = capsys.readouterr().err
    assert "may be written by others" in err
    assert not (tmp_path / "out").exists()
    assert main(["build", str(ctx), "--no-cache", "-o", f"oci:{tmp_path / 'out'}"]) == EXIT_OK


def test_a_warm_build_reuses_the_engine_layers_and_verify_still_builds_b_afresh(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    storage = Path(os.environ["XDG_CACHE_HOME"]) / "repro" / "engines" / "buildah" / "native" / "storage"
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'cold'}"]) == EXIT_OK
    digest = capsys.readouterr().out.strip()
    assert storage.is_dir()

    assert main(["-v", "build", str(ctx), "-o", f"oci:{tmp_path / 'warm'}"]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.strip() == digest
    steps = captured.err.count("| STEP ")
    assert steps > 3
    assert captured.err.count("--> Using cache") == steps - 1  # every step but the FROM

    # verify: A is warm, B runs every step
    assert main(["-v", "verify", str(ctx)]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == f"reproducible {digest}\n"
    reused = [line for line in captured.err.splitlines() if "--> Using cache" in line]
    assert reused
    assert all(line.startswith("[A]") for line in reused), reused


def test_two_builds_at_once_on_one_cache_both_succeed(images: BaseImages, tmp_path: Path) -> None:
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    builds = [
        subprocess.Popen(
            [sys.executable, "-m", "repro", "build", str(ctx), "-o", f"oci:{tmp_path / name}", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("one", "two")
    ]
    outputs = [build.communicate(timeout=600) for build in builds]
    assert [build.returncode for build in builds] == [0, 0], [err for _, err in outputs]
    digests = {json.loads(out)["digest"] for out, _ in outputs}
    assert len(digests) == 1
