"""Dockerfile features through ``repro build`` and ``repro verify`` with the real buildah.

Each test inspects what the image holds (config, every layer, history), not only the
exit code. What buildah cannot build is refused before any build, by file:line.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.build import BuildSpec, prepare, run_build
from repro.build.buildah import BuildahBackend
from repro.build.pipeline import work_directory
from repro.cli import main
from repro.config import load_config
from repro.digest import Digest
from repro.errors import EXIT_OK, EXIT_USAGE, BuildError
from repro.oci.layout import ImageLayout
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


def layer_files(layout: Path, digest: Digest) -> dict[str, bytes]:
    """The regular files of one layer: path -> content."""
    data = ImageLayout.open(layout).read_blob(digest, max_size=1 << 30)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                files[member.name] = handle.read()
    return files


def context(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (ctx / name).write_text(text)
    return ctx


def test_unsupported_features_are_refused_before_building_naming_each_line(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = context(
        tmp_path,
        f"FROM {images.busybox.pinned}\n"
        "RUN <<EOF\necho hi > /greeting\nEOF\n"
        f"ADD --checksum=sha256:{'cd' * 32} http://127.0.0.1:9/x /x\n"
        "COPY --link Dockerfile /d\n",
    )
    version = BuildahBackend().version()
    for command in ("build", "verify"):
        out = tmp_path / f"out-{command}"
        assert main([command, str(ctx), "-o", f"oci:{out}"]) == EXIT_USAGE
        err = capsys.readouterr().err
        dockerfile = ctx / "Dockerfile"
        assert f"3 Dockerfile features are not supported by buildah {version}" in err
        assert f"{dockerfile}:2: a heredoc (RUN <<EOF) is not supported by buildah {version} (" in err
        assert f"{dockerfile}:5: ADD --checksum is not supported by buildah {version} (" in err
        assert f"{dockerfile}:6: COPY --link is not supported by buildah {version} (" in err
        assert "STEP 1" not in err  # nothing was built
        assert not out.exists()


@pytest.mark.parametrize(
    ("instruction", "engine_says"),
    [
        ("RUN <<EOF\necho hi > /greeting\nEOF\n", 'Unknown instruction: "ECHO"'),
        (f"ADD --checksum=sha256:{'cd' * 32} http://127.0.0.1:9/x /x\n", "ADD only supports"),
        ("COPY --link Dockerfile /d\n", "COPY only supports"),
        ("COPY --parents Dockerfile /d/\n", "COPY only supports"),
        ("RUN --network=none true\n", "RUN only supports the --mount flag"),
    ],
)
def test_what_buildah_is_declared_not_to_support_it_really_does_not(
    images: BaseImages, tmp_path: Path, instruction: str, engine_says: str
) -> None:
    """The declaration is measured: the engine itself, with repro's check bypassed, fails.

    If a newer buildah builds one of these, this test fails and the declaration must change.
    """
    ctx = context(tmp_path, f"FROM {images.busybox.pinned}\n{instruction}")
    prepared = prepare(BuildSpec(ctx), config=load_config(ctx))
    with work_directory() as workdir, pytest.raises(BuildError) as info:
        run_build(prepared, workdir, backend=BuildahBackend())
    assert engine_says in str(info.value)


def test_healthcheck_shell_stopsignal_and_onbuild_are_in_the_image_config(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = context(
        tmp_path,
        f"FROM {images.busybox.pinned} AS base\n"
        "HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --retries=2 CMD wget -q -O- http://localhost/ || exit 1\n"
        "FROM base\n"
        'SHELL ["/bin/sh", "-c", "echo \\"$0\\" > /shell-ran"]\n'
        "RUN through-the-shell\n"
        "STOPSIGNAL SIGQUIT\n"
        "ONBUILD RUN echo built on top\n",
    )
    out = tmp_path / "out"
    assert main(["verify", str(ctx), "-o", f"oci:{out}:hc", "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["reproducible"] is True
    image = ImageLayout.open(out).image("hc")
    config = image.config["config"]
    # the fields as BuildKit writes them into an OCI config (durations in nanoseconds)
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
        "Interval": 5_000_000_000,
        "Timeout": 3_000_000_000,
        "StartPeriod": 1_000_000_000,
        "Retries": 2,
    }  # inherited from the stage it builds on
    assert config["Shell"] == ["/bin/sh", "-c", 'echo "$0" > /shell-ran']
    assert config["StopSignal"] == "SIGQUIT"
    assert config["OnBuild"] == ["RUN echo built on top"]
    # RUN went through the SHELL: the last layer holds what the shell wrote
    files = layer_files(out, image.layers[-1].digest)
    assert files["shell-ran"] == b"through-the-shell\n"
