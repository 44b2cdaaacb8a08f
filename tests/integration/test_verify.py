"""``repro verify`` and ``repro build --verify`` with the real buildah: reproducible images,
the seed's apt example with and without scrubbing, and a build that records its time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.cli import main
from repro.errors import EXIT_NOT_REPRODUCIBLE, EXIT_OK
from repro.oci.layout import ImageLayout
from tests.integration.assets import make_context
from tests.programs import require_programs

pytestmark = pytest.mark.buildah

#: What apt, dpkg and ldconfig leave behind that differs between two builds.
APT_VOLATILE = [
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/cache/ldconfig/aux-cache",
    "var/log/apt/history.log",
    "var/log/apt/term.log",
    "var/log/dpkg.log",
]


@pytest.fixture
def images(base_images: BaseImages, monkeypatch: pytest.MonkeyPatch) -> BaseImages:
    """The base images, with buildah present and their registry configured insecure."""
    require_programs("buildah")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", base_images.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1704067200")
    return base_images


@pytest.fixture
def debian(images: BaseImages) -> BaseImages:
    if images.debian is None:
        pytest.skip("the test bed was started without the Debian image")
    return images


def test_busybox_app_is_reproducible(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("busybox-app", tmp_path / "ctx", images)
    assert main(["verify", str(ctx)]) == EXIT_OK
    captured = capsys.readouterr()
    verdict, digest = captured.out.split()
    assert verdict == "reproducible"
    assert digest.startswith("sha256:")
    assert "[A] step 1/6" in captured.err
    assert "[B] step 1/6" in captured.err

    # build --verify writes the image, and it is the digest verify found
    out = tmp_path / "out"
    assert main(["build", str(ctx), "--verify", "-o", f"oci:{out}:app"]) == EXIT_OK
    assert capsys.readouterr().out == f"reproducible {digest}\n"
    assert str(ImageLayout.open(out).find("app").digest) == digest


def test_a_build_that_records_its_time_is_reported_with_its_line(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("build-time", tmp_path / "ctx", images)
    out = tmp_path / "out"
    assert main(["verify", str(ctx), "-o", f"oci:{out}"]) == EXIT_NOT_REPRODUCIBLE
    captured = capsys.readouterr()
    dockerfile = ctx / "Dockerfile"
    assert f"first differing layer: 2 (RUN at {dockerfile}:3)" in captured.out
    assert "built-at" in captured.out
    assert "SOURCE_DATE_EPOCH" in captured.out  # the fix
    assert "not reproducible" in captured.err
    assert not out.exists()  # nothing is written when the builds disagree

    assert main(["verify", str(ctx), "--json"]) == EXIT_NOT_REPRODUCIBLE
    result = json.loads(capsys.readouterr().out)
    assert result["reproducible"] is False
    diff = result["diff"]
    assert diff["first_differing_layer"] == 2
    assert [e["path"] for e in diff["layers"][2]["entries"]] == ["built-at"]
    assert diff["layers"][2]["origin"]["location"] == f"{dockerfile}:3"
    assert [layer["status"] for layer in diff["layers"][:2]] == ["same", "same"]


@pytest.mark.slow
def test_apt_example_names_the_six_volatile_files_and_scrubbing_fixes_it(
    debian: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("apt-curl", tmp_path / "ctx", debian)
    assert main(["verify", str(ctx), "--json"]) == EXIT_NOT_REPRODUCIBLE
    diff = json.loads(capsys.readouterr().out)["diff"]
    assert diff["first_differing_layer"] == 1
    assert sorted(e["path"] for e in diff["layers"][1]["entries"]) == APT_VOLATILE
    assert diff["layers"][1]["origin"]["location"] == f"{ctx / 'Dockerfile'}:3"
    fixes = " ".join(finding["fix"] for finding in diff["findings"])
    for profile in ("--scrub apt", "--scrub dpkg-log", "--scrub ldconfig"):
        assert profile in fixes
    assert sorted(p for finding in diff["findings"] for p in finding["paths"]) == APT_VOLATILE

    assert main(["verify", str(ctx), "--scrub", "apt,dpkg-log,ldconfig", "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["reproducible"] is True
    for build in result["builds"]:
        assert build["scrub_profiles"] == ["apt", "dpkg-log", "ldconfig"]
        assert set(APT_VOLATILE) <= set(build["scrubbed"])


@pytest.mark.slow
def test_multi_stage_build_from_scratch_is_reproducible(
    debian: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("multi-stage", tmp_path / "ctx", debian)
    out = tmp_path / "out"
    assert main(["verify", str(ctx), "-o", f"oci:{out}:hello"]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.startswith("reproducible sha256:")
    assert "stage 2/2 step 2/2: COPY --from=build /out/ /" in captured.err
    image = ImageLayout.open(out).image("hello")
    assert len(image.layers) == 1  # only the COPY of the final stage
    assert str(image.digest) == captured.out.split()[1]


def test_a_file_recording_the_build_containers_hostname_is_blamed_on_it(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = make_context("hostname", tmp_path / "ctx", images)
    assert main(["verify", str(ctx), "--json"]) == EXIT_NOT_REPRODUCIBLE
    (finding,) = json.loads(capsys.readouterr().out)["diff"]["findings"]
    assert finding["culprit"] == "hostname"
    assert finding["paths"] == ["etc/built-on"]
    assert finding["location"] == f"{ctx / 'Dockerfile'}:2"
    assert "write a fixed name instead of $(hostname)" in finding["fix"]
