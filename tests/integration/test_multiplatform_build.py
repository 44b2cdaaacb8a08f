"""``repro build`` and ``repro verify`` for linux/amd64 and linux/arm64 with the real buildah.

The arm64 RUN steps run under qemu-user-static through binfmt_misc (``make emulation``).
The base is the test bed's ``busybox-multi``: each platform's image holds that
architecture's busybox, so ``uname -m`` in a RUN step says which machine the step ran on.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from devtools.testbed import BaseImages, RunningRegistry
from devtools.testbed.multiarch import MultiarchBusybox, push_multiarch_busybox
from repro.cli import main
from repro.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE
from repro.oci.layout import Image, ImageLayout
from repro.oci.models import Index
from repro.platform import Platform
from tests.programs import require_programs

pytestmark = [pytest.mark.buildah, pytest.mark.slow]

EPOCH = 1704067200
PLATFORMS = "linux/amd64,linux/arm64"
#: What ``uname -m`` says on each platform.
MACHINE = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
DOCKERFILE = """\
FROM {base} AS build
RUN uname -m > /arch && echo "built on $(cat /arch)" > /built
FROM {base}
COPY --from=build /arch /built /
RUN echo "runs on $(uname -m)" > /runs
"""


@pytest.fixture(scope="module")
def multiarch(registry: RunningRegistry, testbed_dir: Path) -> MultiarchBusybox:
    require_programs("buildah", "skopeo", "busybox")
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").is_file():
        pytest.fail("no qemu-aarch64 in binfmt_misc: run 'make emulation'", pytrace=False)
    return push_multiarch_busybox(registry, testbed_dir / "images")


@pytest.fixture
def env(multiarch: MultiarchBusybox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", multiarch.image.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))


def context(directory: Path, base: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    return directory


def files(layout: ImageLayout, image: Image) -> dict[str, bytes]:
    """The regular files of the image's file system (upper layers win)."""
    found: dict[str, bytes] = {}
    for layer in image.layers:
        with layout.open_blob(layer.digest) as blob, tarfile.open(fileobj=blob, mode="r|*") as tar:
            for member in tar:
                if member.isfile():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    found[member.name.lstrip("./")] = extracted.read()
    return found


def test_two_platforms_built_run_and_proved(
    env: None, multiarch: MultiarchBusybox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = context(tmp_path / "ctx", multiarch.image.pinned)
    out = tmp_path / "out"
    args = ["verify", str(ctx), "--platform", PLATFORMS, "-o", f"oci:{out}:app", "--json"]
    assert main(args) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["reproducible"] is True
    assert [(p["platform"], p["reproducible"]) for p in result["platforms"]] == [
        ("linux/amd64", True),
        ("linux/arm64", True),
    ]
    for one in result["platforms"]:
        assert one["digests"][0] == one["digests"][1]
    assert result["digests"][0] == result["digests"][1] == result["digest"]

    layout = ImageLayout.open(out)
    descriptor = layout.find("app")
    assert str(descriptor.digest) == result["digest"]
    index = layout.manifest(descriptor)
    assert isinstance(index, Index)
    assert [str(d.platform) for d in index.manifests] == ["linux/amd64", "linux/arm64"]
    assert [str(d.digest) for d in index.manifests] == [p["digest"] for p in result["platforms"]]
    bases = []
    for entry in index.manifests:
        platform = str(entry.platform)
        image = layout.image(descriptor=entry)
        assert Platform.from_oci(image.config) == entry.platform
        content = files(layout, image)
        machine = MACHINE[platform]
        # the build stage's RUN ran on the platform's machine, and so did the last stage's
        assert content["arch"] == f"{machine}\n".encode()
        assert content["built"] == f"built on {machine}\n".encode()
        assert content["runs"] == f"runs on {machine}\n".encode()
        bases.append(image.layers[0].diff_id)
    assert bases[0] != bases[1]  # each platform's own busybox, not the host's for both

    # repro build writes the same index that verify proved
    built = tmp_path / "built"
    assert main(["build", str(ctx), "--platform", PLATFORMS, "-o", f"oci:{built}:app"]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.strip() == result["digest"]
    assert "[linux/arm64] stage 2/2 step 3/3: RUN echo" in captured.err
    assert (built / "index.json").read_bytes() == (out / "index.json").read_bytes()

    # the pins cover both platforms
    assert main(["pin", "--check", str(ctx / "Dockerfile"), "--no-lock", "--platform", PLATFORMS]) == EXIT_OK


def test_a_base_of_one_platform_is_not_built_for_another(
    env: None,
    multiarch: MultiarchBusybox,
    base_images: BaseImages,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ctx = context(tmp_path / "ctx", base_images.busybox.pinned)  # this machine's platform only
    args = ["pin", "--check", str(ctx / "Dockerfile"), "--no-lock", "--platform", PLATFORMS]
    assert main(args) == EXIT_CHECK_FAILED
    assert "single-platform manifest" in capsys.readouterr().out
    # buildah would build linux/arm64 on it and label the image arm64: refused before building
    out = tmp_path / "out"
    assert main(["build", str(ctx), "--platform", PLATFORMS, "-o", f"oci:{out}:app"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"{ctx / 'Dockerfile'}:1: {base_images.busybox.pinned} is a single-platform manifest" in err
    assert "repro: [linux/" not in err  # no build started
    assert not out.exists()
