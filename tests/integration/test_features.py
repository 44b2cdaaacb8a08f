"""Dockerfile features through ``repro build`` and ``repro verify`` with the real buildah.

Each test inspects what the image holds (config, every layer, history), not only the
exit code. What buildah cannot build is refused before any build, by file:line.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.build import BuildSpec, prepare, run_build
from repro.build.buildah import BuildahEngine
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
    version = BuildahEngine().version()
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
        run_build(prepared, workdir, engine=BuildahEngine())
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


SECRET = b"s3cr3t-token-4a7f09c2e1b6d8\n"
ENV_SECRET = "env-secret-91c3ab77f0e2d5"

MOUNTS = """\
FROM {base} AS tools
RUN echo from-the-tools-stage > /tool.txt
FROM {base}
COPY . /ctx/
RUN --mount=type=secret,id=tok,required=true sha256sum /run/secrets/tok | cut -c1-64 > /secret-hash
RUN --mount=type=secret,id=envtok,target=/envtok,required=true wc -c < /envtok > /envtok-length
RUN --mount=type=cache,target=/cache date +%s%N >> /cache/seen && wc -l < /cache/seen > /cache-lines
RUN --mount=type=bind,from=tools,source=/tool.txt,target=/mnt/tool.txt cp /mnt/tool.txt /copied-tool.txt
"""

IGNORED_CONTEXT = {
    "app.txt": "the app\n",
    "node_modules/big/index.js": "x" * 100_000,
    "logs/today.log": "log\n",
    "src/debug.log": "log\n",
    "docs/keep.txt": "kept\n",
    "docs/drop.txt": "dropped\n",
    ".dockerignore": "node_modules\n**/*.log\ndocs\n!docs/keep.txt\n",
}


def every_blob(layout: Path) -> list[bytes]:
    """Every blob of a layout, gzip layers decompressed, base64 payloads of JSON decoded too."""
    found: list[bytes] = []
    for blob in sorted((layout / "blobs").rglob("*")):
        if not blob.is_file():
            continue
        data = blob.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        found.append(data)
        found += decoded_payloads(data)
    return found


def decoded_payloads(data: bytes) -> list[bytes]:
    """The base64 strings inside a JSON document, decoded (DSSE payloads, bundle contents)."""
    try:
        document = json.loads(data)
    except ValueError:
        return []
    out: list[bytes] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) >= 16:
            try:
                decoded = base64.b64decode(value, validate=True)
            except ValueError:
                return
            out.append(decoded)
            out.extend(decoded_payloads(decoded))

    walk(document)
    return out


def assert_secret_absent(where: str, data: bytes) -> None:
    for needle in (
        SECRET.strip(),
        base64.b64encode(SECRET),
        base64.b64encode(SECRET.strip()),
        ENV_SECRET.encode(),
    ):
        assert needle not in data, f"{where} holds the secret ({needle!r})"


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_secrets_cache_and_bind_mounts_and_dockerignore_through_verify(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = context(tmp_path, MOUNTS.format(base=images.busybox.pinned))
    write_tree(ctx, IGNORED_CONTEXT)
    secret_file = tmp_path / "token"
    secret_file.write_bytes(SECRET)
    monkeypatch.setenv("ENV_TOKEN", ENV_SECRET)
    out = tmp_path / "out"
    args = ["-v", "verify", str(ctx), "-o", f"oci:{out}:m", "--json"]
    secrets = ["--secret", f"id=tok,src={secret_file}", "--secret", "id=envtok,env=ENV_TOKEN"]
    assert main([*args, *secrets[:2]]) == EXIT_USAGE  # envtok is required
    err = capsys.readouterr().err
    assert "requires secret(s) that were not given: envtok" in err
    assert f"{ctx / 'Dockerfile'}:6: RUN --mount=type=secret,id=envtok,required=true" in err

    # Build A reads the copy of the context, B too; a copy that kept out more or less than
    # buildah's own .dockerignore handling would make COPY . differ from a plain build.
    code = main([*args, *secrets])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    assert json.loads(captured.out)["reproducible"] is True
    assert_secret_absent("verify's output", (captured.out + captured.err).encode())

    image = ImageLayout.open(out).image("m")
    files: dict[str, bytes] = {}
    for layer in image.layers:
        files.update(layer_files(out, layer.digest))
    # the secrets were there for their steps ...
    assert files["secret-hash"].decode().strip() == hashlib.sha256(SECRET).hexdigest()
    assert files["envtok-length"].strip() == str(len(ENV_SECRET)).encode()
    # ... the cache mount started empty and stayed out of the layer (time-varying content,
    # yet both builds agree) ...
    assert files["cache-lines"].strip() == b"1"
    assert not [name for name in files if name.startswith("cache/")]
    # ... the bind mount read a file of another stage, and left nothing behind
    assert files["copied-tool.txt"] == b"from-the-tools-stage\n"
    assert not [name for name in files if name.startswith("mnt/")]
    # .dockerignore: what COPY . took
    copied = sorted(name.removeprefix("ctx/") for name in files if name.startswith("ctx/"))
    assert copied == [".dockerignore", "Dockerfile", "app.txt", "docs/keep.txt"]
    # the secrets are in no layer, the config, the history or the manifest
    for index, blob in enumerate(every_blob(out)):
        assert_secret_absent(f"blob {index} of the image", blob)


def test_a_released_image_its_attestations_and_report_hold_no_secret(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPRO_KEY_PASSWORD", "features test passphrase")
    monkeypatch.chdir(tmp_path)
    ctx = context(
        tmp_path,
        f"FROM {images.busybox.pinned}\n"
        "RUN --mount=type=secret,id=tok,required=true sha256sum /run/secrets/tok | cut -c1-64 > /secret-hash\n"
        "USER 65534:65534\n"
        'CMD ["cat", "/secret-hash"]\n',
    )
    secret_file = tmp_path / "token"
    secret_file.write_bytes(SECRET)
    code = main(
        ["release", str(ctx), "--image", "app:1.0", "--secret", f"id=tok,src={secret_file}", "--json"]
    )
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    assert json.loads(captured.out)
    assert_secret_absent("the release report", captured.out.encode())
    assert_secret_absent("the release's messages", captured.err.encode())
    for path in sorted((tmp_path / "dist").rglob("*")):
        if path.is_file() and "blobs" not in path.parts:
            assert_secret_absent(str(path), path.read_bytes())
    blobs = every_blob(tmp_path / "dist")
    assert any(b"https://slsa.dev/provenance/v1" in blob for blob in blobs)  # the provenance was searched
    for index, blob in enumerate(blobs):
        assert_secret_absent(f"blob {index} of the release", blob)


def test_buildx_habits_tags_stdin_containerfile_labels_annotations_build_contexts(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        f"FROM {images.busybox.pinned}\n"
        "COPY --from=vendored lib/ /opt/lib/\n"
        "RUN --mount=type=bind,from=vendored,source=version,target=/v cp /v /opt/version\n"
    )
    vendored = tmp_path / "vendored"
    (vendored / "lib").mkdir(parents=True)
    (vendored / "lib" / "libx.so").write_text("a library\n")
    (vendored / "lib" / "notes.tmp").write_text("ignored\n")
    (vendored / "version").write_text("1.2.3\n")
    (vendored / ".dockerignore").write_text("**/*.tmp\n")
    out = tmp_path / "out"
    args = [
        "verify", str(ctx), "-o", f"oci:{out}", "-t", "app:1.0", "-t", "app:latest", "--no-cache",
        "--label", "org.opencontainers.image.title=app", "--annotation", "com.example.release=yes",
        "--build-context", f"vendored={vendored}", "--json",
    ]  # fmt: skip
    code = main(args)
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    assert json.loads(captured.out)["reproducible"] is True  # each build read copies of both contexts
    layout = ImageLayout.open(out)
    assert sorted(layout.tags()) == ["1.0", "latest"]
    image = layout.image("1.0")
    assert layout.find("latest").digest == image.digest
    assert image.config["config"]["Labels"]["org.opencontainers.image.title"] == "app"
    assert image.manifest.annotations["com.example.release"] == "yes"
    files: dict[str, bytes] = {}
    for layer in image.layers:
        files.update(layer_files(out, layer.digest))
    assert files["opt/lib/libx.so"] == b"a library\n"
    assert "opt/lib/notes.tmp" not in files  # the build context's own .dockerignore
    assert files["opt/version"] == b"1.2.3\n"

    # -f - reads the Dockerfile from stdin; the context needs no Dockerfile then
    monkeypatch.setattr(
        "sys.stdin",
        io.TextIOWrapper(io.BytesIO(f"FROM {images.busybox.pinned}\nLABEL from=stdin\n".encode())),
    )
    assert main(["build", str(vendored), "-f", "-", "-o", f"oci:{tmp_path / 'stdin'}:s"]) == EXIT_OK
    capsys.readouterr()
    labels = ImageLayout.open(tmp_path / "stdin").image("s").config["config"]["Labels"]
    assert labels == {"from": "stdin"}


def test_onbuild_triggers_run_in_the_image_built_on_top(
    images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A parent built by repro carries ONBUILD; a child FROM it (pinned) runs each trigger."""
    parent = context(
        tmp_path / "parent",
        f"FROM {images.busybox.pinned}\n"
        "ONBUILD COPY app.txt /app/app.txt\n"
        "ONBUILD RUN wc -c < /app/app.txt > /app/size\n"
        'CMD ["cat", "/app/app.txt"]\n',
    )
    assert main(["build", str(parent), "-o", f"oci:{tmp_path / 'p'}:p"]) == EXIT_OK
    capsys.readouterr()
    parent_config = ImageLayout.open(tmp_path / "p").image("p").config["config"]
    assert parent_config["OnBuild"] == ["COPY app.txt /app/app.txt", "RUN wc -c < /app/app.txt > /app/size"]
    assert main(["push", f"oci:{tmp_path / 'p'}:p", f"{images.host}/onbuild-parent:1"]) == EXIT_OK
    pinned = capsys.readouterr().out.strip()

    child = context(
        tmp_path / "child", f"FROM {pinned}\nLABEL child=yes\n", {"app.txt": "hello from the child\n"}
    )
    code = main(["verify", str(child), "-o", f"oci:{tmp_path / 'c'}:c", "--json"])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    assert json.loads(captured.out)["reproducible"] is True
    image = ImageLayout.open(tmp_path / "c").image("c")
    files: dict[str, bytes] = {}
    for layer in image.layers:
        files.update(layer_files(tmp_path / "c", layer.digest))
    assert files["app/app.txt"] == b"hello from the child\n"  # the trigger's COPY read the child's context
    assert files["app/size"] == b"21\n"  # and its RUN ran in the child build
    assert (
        "OnBuild" not in image.config["config"] or not image.config["config"]["OnBuild"]
    )  # triggers run once
    assert image.config["config"]["Labels"]["child"] == "yes"
