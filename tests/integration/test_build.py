"""``repro build`` and ``repro diff`` with the real buildah against the test-bed registry."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.build.pipeline import ANNOTATION_EPOCH
from repro.cli import main
from repro.errors import EXIT_BUILD, EXIT_NOT_REPRODUCIBLE, EXIT_OK, EXIT_USAGE
from repro.oci.layout import ImageLayout
from tests.integration.assets import make_context
from tests.programs import require_programs

pytestmark = pytest.mark.buildah

EPOCH = 1704067200


@pytest.fixture
def images(base_images: BaseImages, monkeypatch: pytest.MonkeyPatch) -> BaseImages:
    """The base images, with buildah present and their registry configured insecure."""
    require_programs("buildah")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    return base_images


def test_two_builds_at_different_paths_and_times_give_one_digest(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = make_context("busybox-app", tmp_path / "one" / "ctx", images)
    second = make_context("busybox-app", tmp_path / "elsewhere" / "other-name", images)
    os.utime(second / "greeting.txt", (1, 1))  # the context's file times must not matter

    assert main(["build", str(first), "-o", f"oci:{tmp_path / 'out1'}:app"]) == EXIT_OK
    captured = capsys.readouterr()
    digest = captured.out.strip()
    assert digest.startswith("sha256:")
    # progress on stderr: each instruction, but not the engine's own output without -v
    assert "step 3/6: RUN mkdir -p /app/bin" in captured.err
    assert "Copying blob" not in captured.err

    time.sleep(1.1)
    assert main(["-v", "build", str(second), "-o", f"oci:{tmp_path / 'out2'}:app", "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["digest"] == digest
    assert "| STEP 1/7: FROM" in captured.err  # -v shows the engine's output, with the declared RUN variables
    assert "| STEP 2/7: ARG SOURCE_DATE_EPOCH" in captured.err
    assert result["source_date_epoch"] == EPOCH
    assert result["epoch_source"] == "environment"
    assert result["engine"]["name"] == "buildah"
    assert result["reference"] == f"oci:{tmp_path / 'out2'}:app"

    image = ImageLayout.open(tmp_path / "out1").image("app")
    assert str(image.digest) == digest
    assert image.manifest.annotations[ANNOTATION_EPOCH] == str(EPOCH)
    assert image.config["created"] == "2024-01-01T00:00:00Z"
    assert {h.created for h in image.history} == {"2024-01-01T00:00:00Z"}
    assert "io.buildah.version" not in image.config["config"].get("Labels", {})
    assert image.config["config"]["Labels"] == {"org.opencontainers.image.title": "greet"}
    assert len(image.layers) == 3  # busybox, COPY, RUN


def test_unpinned_from_is_refused_unless_allowed(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("unpinned", tmp_path / "ctx", images)
    out = tmp_path / "out"
    assert main(["build", str(ctx), "-o", f"oci:{out}"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"{ctx / 'Dockerfile'}:1: FROM {images.busybox.reference}" in err
    assert "hint: run 'repro pin'" in err
    assert not out.exists()

    assert main(["build", str(ctx), "-o", f"oci:{out}", "--allow-unpinned", "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["unpinned"] == [f"{ctx / 'Dockerfile'}:1: FROM {images.busybox.reference}"]
    assert ImageLayout.open(out).find("latest").digest.hex == result["digest"].removeprefix("sha256:")


def test_a_failing_instruction_is_a_build_error(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {images.busybox.pinned}\nRUN echo failing on purpose && false\n")
    assert main(["build", str(ctx), "-o", f"oci:{tmp_path / 'out'}"]) == EXIT_BUILD
    err = capsys.readouterr().err
    assert "buildah build failed with exit code" in err
    assert not (tmp_path / "out").exists()


def test_diff_of_layouts_and_registry_references(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("build-time", tmp_path / "ctx", images)
    for name in ("a", "b"):
        # --no-cache: the warm engine storage would reuse the first build's RUN layer.
        assert main(["build", str(ctx), "--no-cache", "-o", f"oci:{tmp_path / name}:img"]) == EXIT_OK
    capsys.readouterr()
    dockerfile = ctx / "Dockerfile"
    a, b = f"oci:{tmp_path / 'a'}:img", f"oci:{tmp_path / 'b'}:img"
    assert main(["diff", a, b, "-f", str(dockerfile)]) == EXIT_NOT_REPRODUCIBLE
    report = capsys.readouterr().out
    assert f"first differing layer: 2 (RUN at {dockerfile}:3)" in report
    assert "built-at" in report

    assert main(["diff", a, b, "--json"]) == EXIT_NOT_REPRODUCIBLE
    diff = json.loads(capsys.readouterr().out)
    assert diff["first_differing_layer"] == 2
    assert [e["path"] for e in diff["layers"][2]["entries"]] == ["built-at"]

    # registry references are pulled into temporary layouts first
    by_tag, by_digest = images.busybox.reference, images.busybox.by_digest
    assert main(["diff", by_tag, by_digest]) == EXIT_OK
    assert "identical" in capsys.readouterr().out
    assert main(["diff", by_tag, a, "--json"]) == EXIT_NOT_REPRODUCIBLE
    diff = json.loads(capsys.readouterr().out)
    assert diff["a"] == {"name": by_tag, "digest": images.busybox.digest, "layers": 1}
