"""Engine bookkeeping never makes identical builds differ: a multi-step Dockerfile with
several RUNs, built twice with the real buildah, gives one digest, and the image holds
what the Dockerfile says and nothing the engine needed to run it."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.cli import main
from repro.errors import EXIT_OK
from repro.oci.layout import ImageLayout
from tests.integration.assets import make_context
from tests.programs import require_programs

pytestmark = pytest.mark.buildah

#: Not the test bed's image epoch (2024-01-01), so base history times can be told apart.
EPOCH = 1_700_000_000


def layer_names(layout: ImageLayout, index: int) -> list[str]:
    image = layout.image(descriptor=layout.find("app"))
    data = gzip.decompress(layout.read_blob(image.layers[index].digest, max_size=1 << 30))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


def test_a_multi_step_build_is_reproducible_and_holds_only_what_the_dockerfile_says(
    base_images: BaseImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_programs("buildah")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    ctx = make_context("multi-step", tmp_path / "ctx", base_images)
    out = tmp_path / "out"
    assert main(["verify", str(ctx), "-o", f"oci:{out}:app"]) == EXIT_OK
    verdict, digest = capsys.readouterr().out.split()
    assert verdict == "reproducible"

    layout = ImageLayout.open(out)
    image = layout.image(descriptor=layout.find("app"))
    assert str(layout.find("app").digest) == digest
    # base, RUN, COPY, RUN, RUN: the engine's mount points are gone, the user's run/ stays
    assert layer_names(layout, 1) == ["one"]
    assert layer_names(layout, 2) == ["app", "app/f.txt"]
    assert layer_names(layout, 3) == ["app", "app/two", "run", "run/mine", "run/mine/x"]
    assert layer_names(layout, 4) == ["app", "app/flavour"]

    history = image.config["history"]
    assert history[0]["created"] == "2024-01-01T00:00:00Z"  # the base image's own time
    assert {h["created"] for h in history[1:]} == {"2023-11-14T22:13:20Z"}
    comments = [h.get("comment") for h in history[1:]]
    assert comments[0] == f"FROM {base_images.busybox.by_digest}"
    assert comments[1:] == [None] * (len(history) - 2)
    # base annotations, where the engine writes them, name the pinned base; never an engine id
    annotations = image.manifest.annotations
    base = {k: v for k, v in annotations.items() if k.startswith("org.opencontainers.image.base.")}
    assert base in (
        {},
        {
            "org.opencontainers.image.base.digest": base_images.busybox.digest,
            "org.opencontainers.image.base.name": base_images.busybox.by_digest,
        },
    )
