"""The buildah engine's command line and output handling, with the processes swapped out."""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from repro.build.buildah import BuildahEngine, parse_step, registries_conf
from repro.build.engine import BuildEvent, BuildRequest, RegistrySettings, RunOptions
from repro.errors import BuildError, ProcessError
from repro.oci.layout import ImageLayout
from repro.process import LineSink
from tests.unit.build.fakes import write_image


class Recorder:
    """Plays buildah: answers --version, streams canned build output, answers inspect with
    ``docker_config`` and writes a one-layer OCI image for push."""

    def __init__(
        self,
        lines: Sequence[str] = (),
        returncode: int = 0,
        version: bytes = b"",
        docker_config: Mapping[str, object] | None = None,
    ) -> None:
        self.lines = lines
        self.returncode = returncode
        self.version = version or b"buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)\n"
        self.docker_config = dict(docker_config or {"Env": ["PATH=/bin"], "OnBuild": []})
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.commands: list[list[str]] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        self.commands.append(list(argv))
        if "inspect" in argv:
            answer = json.dumps({"Docker": {"config": self.docker_config}}).encode()
            return subprocess.CompletedProcess(list(argv), 0, answer, b"")
        if "push" in argv:
            _, directory, tag = argv[-1].split(":")
            write_image(Path(directory), tag, {"a": b"a"}, "/bin/sh -c true")
            return subprocess.CompletedProcess(list(argv), 0, b"", b"")
        return subprocess.CompletedProcess(list(argv), 0, self.version, b"")

    def stream(
        self,
        argv: Sequence[str],
        *,
        on_line: LineSink | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        self.calls.append((list(argv), dict(env or {})))
        for line in self.lines:
            if on_line is not None:
                on_line(line)
        output = "".join(f"{line}\n" for line in self.lines).encode()
        return subprocess.CompletedProcess(list(argv), self.returncode, output, output)


def request(tmp_path: Path, **changes: object) -> BuildRequest:
    values: dict[str, object] = {
        "context": tmp_path / "ctx",
        "dockerfile": tmp_path / "ctx" / "Dockerfile",
        "output": tmp_path / "out",
        "tag": "v1",
        "source_date_epoch": 1704067200,
    }
    values.update(changes)
    return BuildRequest(**values)  # type: ignore[arg-type]


def run_options(tmp_path: Path, **changes: object) -> RunOptions:
    return RunOptions(workdir=tmp_path / "work", **changes)  # type: ignore[arg-type]


def buildah_engine(recorder: Recorder) -> BuildahEngine:
    return BuildahEngine(runner=recorder.run, stream=recorder.stream)


def test_command_is_the_reproducible_recipe_in_private_storage(tmp_path: Path) -> None:
    argv, env = buildah_engine(Recorder()).command(
        request(tmp_path, build_args={"VERSION": "1.2"}, target="final", platforms=("linux/amd64",)),
        run_options(tmp_path),
    )
    work = tmp_path / "work"
    assert argv == [
        "buildah",
        "--root", str(work / "storage"),
        "--runroot", str(work / "run"),
        "--storage-driver", "vfs",
        "--registries-conf-dir", str(work / "registries.conf.d"),
        "--short-name-alias-conf", str(work / "short-name-aliases.conf"),
        "--default-mounts-file", str(work / "mounts.conf"),
        "build",
        "--format", "docker",
        "--isolation", "chroot",
        "--layers",
        "--no-cache",
        "--pull=always",
        "--timestamp", "1704067200",
        "--identity-label=false",
        "--signature-policy", str(work / "policy.json"),
        "--build-arg", "SOURCE_DATE_EPOCH=1704067200",
        "--build-arg", "VERSION=1.2",
        "--target", "final",
        "--platform", "linux/amd64",
        "--cert-dir", str(work / "certs"),
        "-t", "localhost/repro-build:latest",
        "-f", str(tmp_path / "ctx" / "Dockerfile"),
        str(tmp_path / "ctx"),
    ]  # fmt: skip
    assert "--tls-verify=false" not in argv
    # nothing of the machine's /etc/containers: every file buildah reads is generated
    assert registries_file(env) == work / "home" / ".config" / "containers" / "registries.conf"
    assert "CONTAINERS_REGISTRIES_CONF" not in env  # it would merge /etc/containers/registries.conf.d
    assert env["CONTAINERS_CONF"] == str(work / "containers.conf")
    assert not list((work / "registries.conf.d").iterdir())
    assert json.loads((work / "policy.json").read_text()) == {"default": [{"type": "insecureAcceptAnything"}]}
    storage = tomllib.loads(Path(env["CONTAINERS_STORAGE_CONF"]).read_text())
    assert storage == {
        "storage": {"driver": "vfs", "graphroot": str(work / "storage"), "runroot": str(work / "run")}
    }
    assert env["TMPDIR"] == str(work / "tmp")


def registries_file(env: dict[str, str]) -> Path:
    return Path(env["HOME"]) / ".config" / "containers" / "registries.conf"


def test_only_registries_configured_insecure_are_spoken_to_over_http(tmp_path: Path) -> None:
    registries = (
        RegistrySettings("127.0.0.1:5000", insecure=True),
        RegistrySettings("docker.io", mirrors=("127.0.0.1:5000/hub", "mirror.example.com")),
        RegistrySettings("registry.example.com"),
    )
    argv, env = buildah_engine(Recorder()).command(
        request(tmp_path, registries=registries), run_options(tmp_path)
    )
    assert not any(arg.startswith("--tls-verify") for arg in argv)
    conf = tomllib.loads(registries_file(env).read_text())
    assert conf["unqualified-search-registries"] == ["docker.io"]
    by_host = {entry["location"]: entry for entry in conf["registry"]}
    assert by_host["127.0.0.1:5000"]["insecure"] is True
    assert by_host["registry.example.com"]["insecure"] is False
    assert by_host["docker.io"]["insecure"] is False
    assert by_host["docker.io"]["mirror"] == [
        {"location": "127.0.0.1:5000/hub", "insecure": True},
        {"location": "mirror.example.com", "insecure": False},
    ]


def test_registries_conf_quotes_hosts() -> None:
    text = registries_conf([RegistrySettings('odd"host')])
    assert tomllib.loads(text)["registry"][0]["location"] == 'odd"host'


def test_annotations_auth_file_and_ca_files(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("PEM")
    argv, _ = buildah_engine(Recorder()).command(
        request(
            tmp_path,
            annotations={"b": "2", "a": "1"},
            auth_file=tmp_path / "config.json",
            registries=(RegistrySettings("reg.example.com:5000", ca_file=ca),),
        ),
        run_options(tmp_path),
    )
    assert "--annotation" not in argv  # the Docker format has none: added on export
    assert argv[argv.index("--authfile") + 1] == str(tmp_path / "config.json")
    cert_dir = Path(argv[argv.index("--cert-dir") + 1])
    assert (cert_dir / "reg.example.com_5000.crt").read_text() == "PEM"


def test_umask_and_environment_variation(tmp_path: Path) -> None:
    argv, env = buildah_engine(Recorder()).command(
        request(tmp_path), run_options(tmp_path, umask=0o002, environment={"TZ": "UTC"})
    )
    assert argv[:5] == ["sh", "-c", 'umask 0002 && exec "$@"', "sh", "buildah"]
    assert env["TZ"] == "UTC"


def test_build_streams_steps_as_progress(tmp_path: Path) -> None:
    lines = [
        "[1/2] STEP 1/2: FROM busybox@sha256:abc AS build",
        "Copying blob sha256:123",
        "[1/2] STEP 2/2: RUN make",
        "[2/2] STEP 1/2: FROM scratch",
        "[2/2] STEP 2/2: COPY --from=build /a /a",
        "[2/2] COMMIT oci:/out:v1",
    ]
    recorder = Recorder(lines)
    events: list[BuildEvent] = []
    output = buildah_engine(recorder).build(request(tmp_path), run_options(tmp_path), progress=events.append)
    steps = [(e.stage, e.stages, e.step, e.steps, e.instruction) for e in events if e.kind == "step"]
    assert steps == [
        (1, 2, 1, 2, "FROM busybox@sha256:abc AS build"),
        (1, 2, 2, 2, "RUN make"),
        (2, 2, 1, 2, "FROM scratch"),
        (2, 2, 2, 2, "COPY --from=build /a /a"),
    ]
    assert [e.text for e in events if e.kind == "output"] == lines
    assert (output.engine.name, output.engine.version) == ("buildah", "1.28.2")
    assert str(output.engine) == "buildah 1.28.2"
    assert output.steps == 4
    assert output.layout == tmp_path / "out"
    argv, env = recorder.calls[0]
    assert argv[0] == "buildah"
    assert "PATH" in env  # the engine inherits the environment, plus repro's settings
    assert env["CONTAINERS_STORAGE_CONF"].endswith("storage.conf")


def test_a_failed_build_is_a_build_error_with_the_output_tail(tmp_path: Path) -> None:
    recorder = Recorder(["STEP 1/2: FROM x", "error: RUN false: exit status 1"], returncode=1)
    with pytest.raises(BuildError, match=r"(?s)exit code 1:\n.*RUN false: exit status 1"):
        buildah_engine(recorder).build(request(tmp_path), run_options(tmp_path))


def test_missing_buildah_is_a_build_error(tmp_path: Path) -> None:
    def missing(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        raise ProcessError("buildah: program not found")

    with pytest.raises(BuildError, match="cannot be run") as info:
        BuildahEngine(runner=missing).build(request(tmp_path), run_options(tmp_path))
    assert "apt-get install buildah" in info.value.hint


def test_parse_step() -> None:
    event = parse_step("STEP 3/5: RUN echo hi", 1.5)
    assert event is not None
    assert (event.stage, event.stages, event.step, event.steps, event.instruction) == (
        1,
        1,
        3,
        5,
        "RUN echo hi",
    )
    assert parse_step("--> 1234abcd", 1.0) is None
    assert parse_step("Trying to pull x...", 1.0) is None


def test_docker_only_config_fields_are_carried_into_the_oci_image(tmp_path: Path) -> None:
    healthcheck = {
        "Test": ["CMD-SHELL", "wget -q -O- localhost || exit 1"],
        "Interval": 5_000_000_000,
        "Retries": 2,
    }
    recorder = Recorder(
        docker_config={
            "Env": ["PATH=/bin"],
            "Healthcheck": healthcheck,
            "Shell": ["/bin/sh", "-ec"],
            "OnBuild": ["RUN echo child"],
            "StopSignal": "SIGTERM",
        }
    )
    buildah_engine(recorder).build(request(tmp_path), run_options(tmp_path))
    work = tmp_path / "work"
    storage = [
        "buildah",
        "--root",
        str(work / "storage"),
        "--runroot",
        str(work / "run"),
        "--storage-driver",
        "vfs",
        "--registries-conf-dir",
        str(work / "registries.conf.d"),
        "--short-name-alias-conf",
        str(work / "short-name-aliases.conf"),
        "--default-mounts-file",
        str(work / "mounts.conf"),
    ]
    assert recorder.commands[1:] == [
        [*storage, "inspect", "--type", "image", "localhost/repro-build:latest"],
        [
            *storage,
            "push",
            "--quiet",
            "--signature-policy",
            str(work / "policy.json"),
            "--authfile",
            str(work / "export-auth.json"),
            "localhost/repro-build:latest",
            f"oci:{tmp_path / 'out'}:v1",
        ],
    ]
    config = ImageLayout.open(tmp_path / "out").image("v1").config["config"]
    assert config["Healthcheck"] == healthcheck
    assert config["Shell"] == ["/bin/sh", "-ec"]
    assert config["OnBuild"] == ["RUN echo child"]
    assert ImageLayout.open(tmp_path / "out").tags() == ["v1"]


def test_annotations_are_added_to_the_oci_manifest(tmp_path: Path) -> None:
    buildah_engine(Recorder()).build(
        request(tmp_path, annotations={"b": "2", "a": "1"}), run_options(tmp_path)
    )
    assert ImageLayout.open(tmp_path / "out").image("v1").manifest.annotations == {"a": "1", "b": "2"}


def test_nothing_to_carry_leaves_the_pushed_image_as_it_is(tmp_path: Path) -> None:
    buildah_engine(Recorder()).build(request(tmp_path), run_options(tmp_path))
    image = ImageLayout.open(tmp_path / "out").image("v1")
    assert "Healthcheck" not in image.config.get("config", {})
    assert "OnBuild" not in image.config.get("config", {})


def test_labels_go_to_the_image_config(tmp_path: Path) -> None:
    argv, _ = buildah_engine(Recorder()).command(
        request(tmp_path, labels={"org.example.team": "a", "org.example.a": "b"}), run_options(tmp_path)
    )
    given = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--label"]
    assert given == ["org.example.a=b", "org.example.team=a"]


def test_more_than_one_platform_per_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="one platform per run"):
        buildah_engine(Recorder()).command(
            request(tmp_path, platforms=("linux/amd64", "linux/arm64")), run_options(tmp_path)
        )


def test_identity_capabilities_and_noise() -> None:
    engine = buildah_engine(Recorder())
    assert engine.identity().versions() == {"buildah": "1.28.2"}
    capabilities = engine.capabilities()
    assert capabilities.engine == "buildah 1.28.2"
    assert capabilities.secrets
    assert capabilities.stopsignal
    assert not capabilities.heredocs
    assert engine.noise().labels == {"io.buildah.version"}
    assert engine.varies() == {"environment", "umask"}


# -- warm storage in repro's cache ------------------------------------------------------


def _storage_flags(argv: Sequence[str]) -> tuple[str, str]:
    return argv[argv.index("--root") + 1], argv[argv.index("--runroot") + 1]


def test_a_warm_build_uses_the_cached_storage_and_buildahs_layer_cache(tmp_path: Path) -> None:
    recorder = Recorder()
    cache = tmp_path / "cache" / "buildah"
    buildah_engine(recorder).build(request(tmp_path), run_options(tmp_path, cache_dir=cache))
    argv, env = recorder.calls[0]
    assert _storage_flags(argv) == (str(cache / "storage"), str(cache / "run"))
    assert "--no-cache" not in argv
    assert "--layers" in argv
    storage = tomllib.loads(Path(env["CONTAINERS_STORAGE_CONF"]).read_text())["storage"]
    assert (storage["graphroot"], storage["runroot"]) == (str(cache / "storage"), str(cache / "run"))
    # the export reads the same storage
    assert all(_storage_flags(command) == _storage_flags(argv) for command in recorder.commands[1:])
    assert cache.stat().st_mode & 0o777 == 0o700


def test_without_a_cache_every_step_runs_in_storage_of_its_own(tmp_path: Path) -> None:
    recorder = Recorder()
    buildah_engine(recorder).build(request(tmp_path), run_options(tmp_path))
    argv, _ = recorder.calls[0]
    work = tmp_path / "work"
    assert _storage_flags(argv) == (str(work / "storage"), str(work / "run"))
    assert "--no-cache" in argv


def test_a_second_build_at_once_does_not_share_the_warm_storage(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "buildah"
    inner = Recorder()
    outer_argv: list[str] = []

    class Nested(Recorder):
        def stream(self, argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
            outer_argv.extend(argv)
            # while this build holds the warm storage, another one starts
            buildah_engine(inner).build(
                request(tmp_path, output=tmp_path / "out2"),
                RunOptions(workdir=tmp_path / "work2", cache_dir=cache),
            )
            return super().stream(argv, **kwargs)  # type: ignore[arg-type]

    buildah_engine(Nested()).build(request(tmp_path), run_options(tmp_path, cache_dir=cache))
    assert _storage_flags(outer_argv) == (str(cache / "storage"), str(cache / "run"))
    second, _ = inner.calls[0]
    assert _storage_flags(second) == (str(tmp_path / "work2" / "storage"), str(tmp_path / "work2" / "run"))
    assert "--no-cache" in second
    # and once the first is done, the next build is warm again
    later = Recorder()
    buildah_engine(later).build(request(tmp_path), run_options(tmp_path, cache_dir=cache))
    assert _storage_flags(later.calls[0][0])[0] == str(cache / "storage")


def test_the_warm_storage_is_emptied_when_over_its_bound(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "buildah"
    (cache / "storage" / "vfs").mkdir(parents=True)
    (cache / "storage" / "vfs" / "layer").write_bytes(b"x" * 100_000)
    buildah_engine(Recorder()).build(
        request(tmp_path), run_options(tmp_path, cache_dir=cache, cache_max_bytes=10**9)
    )
    assert (cache / "storage" / "vfs" / "layer").exists()
    buildah_engine(Recorder()).build(
        request(tmp_path), run_options(tmp_path, cache_dir=cache, cache_max_bytes=1000)
    )
    assert not (cache / "storage").exists()
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []


def test_a_failed_warm_build_says_how_to_build_afresh(tmp_path: Path) -> None:
    recorder = Recorder(lines=["error building at STEP 2"], returncode=1)
    with pytest.raises(BuildError) as info:
        buildah_engine(recorder).build(request(tmp_path), run_options(tmp_path, cache_dir=tmp_path / "cache"))
    assert "--no-cache" in info.value.hint
