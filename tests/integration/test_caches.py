"""repro's caches with the real buildah: the same digest with a cache, from it, and without
one; ``--no-cache`` touches none of it."""

from __future__ import annotations

import os
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
