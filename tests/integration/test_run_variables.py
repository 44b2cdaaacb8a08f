"""SOURCE_DATE_EPOCH and the CA bundle reach every RUN step, with the real buildah, and
leave no trace in the image: not in the config, the history or any layer."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.build.runenv import CA_VARIABLES
from repro.cli import main
from repro.errors import EXIT_OK
from repro.layers.leftovers import CA_BUNDLE_MOUNT
from repro.oci.layout import ImageLayout
from tests.integration.assets import make_context
from tests.programs import require_programs

pytestmark = pytest.mark.buildah

EPOCH = 1_700_000_000
BUNDLE = b"# a CA bundle for the test\nMIIH0zCCBbugAwIBAgIIXsO3pkN-not-a-real-certificate\n"


def files(layout: ImageLayout, tag: str) -> dict[str, bytes]:
    """Every regular file of every layer of the image, by path (later layers win)."""
    image = layout.image(descriptor=layout.find(tag))
    found: dict[str, bytes] = {}
    for layer in image.layers:
        data = gzip.decompress(layout.read_blob(layer.digest, max_size=1 << 30))
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isfile() else None
                found[member.name] = handle.read() if handle is not None else b""
    return found


def test_every_run_step_gets_the_epoch_and_the_ca_bundle_and_the_image_keeps_neither(
    base_images: BaseImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_programs("buildah")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    ctx = make_context("run-variables", tmp_path / "ctx", base_images)
    bundle = tmp_path / "bundle.pem"  # outside the context: nothing copies it in
    bundle.write_bytes(BUNDLE)
    out = tmp_path / "out"
    argv = ["verify", str(ctx), "--ca-bundle", str(bundle), "-o", f"oci:{out}:app"]
    assert main(argv) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.startswith("reproducible sha256:")
    # repro's declaration is not one of the user's steps; the user's own ARG is
    assert "ARG SOURCE_DATE_EPOCH SSL_CERT_FILE" not in captured.err
    assert "[A] stage 2/2 step 4/5: ARG SOURCE_DATE_EPOCH  (" in captured.err

    layout = ImageLayout.open(out)
    content = files(layout, "app")
    assert content["epoch-first"] == content["epoch"] == f"{EPOCH}\n".encode()
    assert content["declared"] == f"declared {EPOCH}\n".encode()  # ARG SOURCE_DATE_EPOCH as in BuildKit
    assert content["ca-vars"].decode().splitlines() == [
        f"{name}={CA_BUNDLE_MOUNT}" for name in sorted(CA_VARIABLES)
    ]
    assert content["ca-head"] == BUNDLE.splitlines(keepends=True)[0]
    assert not [path for path in content if path.startswith("run")]
    assert not [data for data in content.values() if BUNDLE.splitlines()[1] in data]

    image = layout.image(descriptor=layout.find("app"))
    runtime = json.dumps(image.config["config"])
    for needle in ("SOURCE_DATE_EPOCH", CA_BUNDLE_MOUNT, *CA_VARIABLES):
        assert needle not in runtime
    history = json.dumps(image.config["history"])
    for needle in ("SOURCE_DATE_EPOCH=", CA_BUNDLE_MOUNT, "ARG"):
        assert needle not in history
    runs = [h["created_by"] for h in image.config["history"] if h["created_by"].startswith("RUN ")]
    assert runs[0].startswith('RUN /bin/sh -c echo "$SOURCE_DATE_EPOCH" > /epoch &&')
    assert runs[1] == 'RUN /bin/sh -c echo "declared $SOURCE_DATE_EPOCH" > /declared'
