"""The Docker engine: BuildKit inside a Docker Engine, local or remote.

``repro build --engine docker`` runs ``DOCKER_BUILDKIT=1 docker build`` (or ``docker buildx
build`` when the buildx plugin is there, on ``--builder NAME`` if given) against the daemon
that ``--docker-host`` / ``[tool.repro.engines.docker] host``, else ``DOCKER_HOST``, else the
current ``docker context`` names: a local socket, ``tcp://`` with TLS (the docker client
reads ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``) or ``ssh://``. The image comes back
through ``docker save`` and is converted to an OCI layout (:mod:`repro.images.archive`);
repro's normaliser does the rest, as for every engine.

The daemon pulls the base images itself, with its own settings. repro routes every pinned
image whose registry has mirrors in repro's configuration to the first mirror (else the
origin) that holds exactly the pinned digest, and checks after the build that the image
starts with exactly the layers of the pinned base, fetched through repro's own registry
settings (:mod:`repro.build.dockerbase`): no mirror, of repro's or of the daemon's, can
substitute content unnoticed.

Settings (``[tool.repro.engines.docker]`` or flags): ``host`` (``--docker-host``),
``builder`` (``--builder``, needs buildx), ``network`` (``host`` where the daemon has no
bridge network, as in the test bed), ``client`` (the docker program; default: the first
``docker`` on PATH that can build with BuildKit).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets as random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from repro.build.capabilities import Capabilities
from repro.build.dockerbase import check_base, registry_config, route_images
from repro.build.engine import (
    BuildEvent,
    BuildRequest,
    BuildSecret,
    EngineIdentity,
    EngineOutput,
    ProgressCallback,
    RunOptions,
)
from repro.errors import BuildError, ConfigError, ProcessError, UsageError
from repro.images.archive import docker_archive_to_layout
from repro.layers.noise import EngineNoise
from repro.process import Runner, StreamRunner, run, run_streaming

logger = logging.getLogger(__name__)

PROGRAM = "docker"
SETTINGS = frozenset({"host", "builder", "network", "client"})
_OUTPUT_TAIL_LINES = 30
_CLIENT_VERSION_RE = re.compile(r"version\s+(\d+)\.(\d+)")
#: The first docker client version whose ``docker build`` needs the buildx plugin for BuildKit.
_BUILDX_ONLY_MAJOR = 23
# BuildKit's plain progress: "#5 [2/3] RUN make", "#7 [build 2/4] COPY . /src".
_STEP_RE = re.compile(r"^#\d+ \[(?:(\S+) )?(\d+)/(\d+)\] (.*)$")
#: The comment BuildKit's Dockerfile frontend puts on every history entry it writes.
BUILDKIT_COMMENT = "buildkit.dockerfile.v0"
_BUILDKIT_VERSION_RE = re.compile(r"^Buildkit:\s*(\S+)", re.MULTILINE)


def parse_step(line: str, elapsed: float) -> BuildEvent | None:
    """The step event a BuildKit ``#N [stage i/n] INSTRUCTION`` line announces, else None.

    BuildKit numbers steps across all stages (``[2/5]``); ``stage`` is left 0 because the
    line names the stage, not its position.
    """
    match = _STEP_RE.match(line)
    if match is None or match.group(4).startswith("internal]"):
        return None
    _stage, step, steps, instruction = match.groups()
    return BuildEvent(
        kind="step",
        text=line,
        elapsed=elapsed,
        stage=1,
        stages=1,
        step=int(step),
        steps=int(steps),
        instruction=instruction,
    )


def _secret_file(secret: BuildSecret, work: Path) -> Path:
    """The file holding ``secret``: its source, or a private copy (mode 0600, in the run's
    work directory) of the environment variable it names — the docker 20.10 client reads
    secrets from files only."""
    if secret.source is not None:
        return secret.source
    value = os.environ.get(secret.env or secret.id)
    if value is None:
        raise UsageError(f"--secret id={secret.id},env={secret.env or secret.id}: the variable is not set")
    directory = work / "secrets"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / secret.id
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return path


class DockerEngine:
    """Builds with BuildKit in a Docker Engine (tested with Debian 12's docker.io 20.10).

    ``runner`` runs short commands (version, save, image removal); ``stream`` runs the
    build and feeds its output lines back for progress. Tests substitute both.
    """

    name = PROGRAM

    def __init__(
        self,
        *,
        host: str | None = None,
        builder: str | None = None,
        network: str | None = None,
        client: str | None = None,
        runner: Runner = run,
        stream: StreamRunner = run_streaming,
    ) -> None:
        self.host = host
        self.builder = builder
        self.network = network
        self._client = client
        self._runner = runner
        self._stream = stream
        self._identity: EngineIdentity | None = None
        self._buildx: bool | None = None

    @property
    def remote(self) -> bool:
        """Whether the daemon may run elsewhere (``tcp://``, ``ssh://``): RUN steps of another
        platform then need that machine's emulators, not this one's."""
        host = self.host or os.environ.get("DOCKER_HOST", "")
        return host.startswith(("tcp://", "ssh://"))

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> DockerEngine:
        """The engine for ``[tool.repro.engines.docker]`` settings and the CLI's flags."""
        unknown = set(options) - SETTINGS
        if unknown:
            raise ConfigError(
                f"engines.docker: unknown setting(s) {', '.join(sorted(unknown))}",
                hint=f"the docker engine takes {', '.join(sorted(SETTINGS))}",
            )
        return cls(
            host=options.get("host") or None,
            builder=options.get("builder") or None,
            network=options.get("network") or None,
            client=options.get("client") or None,
        )

    # -- the client and the daemon --------------------------------------------------------

    def _base_argv(self) -> list[str]:
        argv = [self.client()]
        if self.host:
            argv += ["--host", self.host]
        return argv

    def _run(self, args: Sequence[str], *, timeout: float = 120, what: str) -> str:
        try:
            completed = self._runner([*self._base_argv(), *args], timeout=timeout)
        except ProcessError as exc:
            raise BuildError(f"docker {what} failed: {exc}", hint=self._daemon_hint()) from exc
        return completed.stdout.decode("utf-8", "replace")

    def _daemon_hint(self) -> str:
        where = self.host or os.environ.get("DOCKER_HOST") or "the current docker context"
        return (
            f"is the Docker daemon at {where} running and reachable? Name another with "
            "--docker-host unix:///PATH, tcp://HOST:PORT (DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH) or ssh://HOST"
        )

    def client(self) -> str:
        """The docker program: the configured one, else the first on PATH that builds with
        BuildKit (a client of version 23 or later needs the buildx plugin for that)."""
        if self._client is not None:
            return self._client
        candidates = []
        for directory in os.environ.get("PATH", "").split(os.pathsep):
            path = Path(directory or ".") / PROGRAM
            if path.is_file() and os.access(path, os.X_OK) and str(path) not in candidates:
                candidates.append(str(path))
        for candidate in candidates:
            if self._has_buildx(candidate) or self._classic_buildkit(candidate):
                self._client = candidate
                return candidate
        raise BuildError(
            "no docker client that can build with BuildKit was found on PATH"
            + (f" (tried {', '.join(candidates)})" if candidates else ""),
            hint="install docker.io (Debian) or the docker buildx plugin, or name the client: "
            '[tool.repro.engines.docker] client = "/usr/bin/docker"',
        )

    def _has_buildx(self, client: str) -> bool:
        try:
            completed = self._runner([client, "buildx", "version"], timeout=30, check=False)
        except ProcessError:
            return False
        return completed.returncode == 0

    def _classic_buildkit(self, client: str) -> bool:
        try:
            completed = self._runner([client, "--version"], timeout=30, check=False)
        except ProcessError:
            return False
        match = _CLIENT_VERSION_RE.search(completed.stdout.decode("utf-8", "replace"))
        return completed.returncode == 0 and match is not None and int(match.group(1)) < _BUILDX_ONLY_MAJOR

    def buildx(self) -> bool:
        """Whether builds go through ``docker buildx build`` (the plugin is installed)."""
        if self._buildx is None:
            self._buildx = self._has_buildx(self.client())
        if self.builder and not self._buildx:
            raise UsageError(
                f"--builder {self.builder}: choosing a builder needs the docker buildx plugin",
                hint="install docker-buildx, or leave out --builder to build on the daemon itself",
            )
        return self._buildx

    def identity(self) -> EngineIdentity:
        """The daemon's version, the client's, and BuildKit's (asked of the buildx builder;
        the embedded BuildKit of a daemon without buildx reports no version of its own)."""
        if self._identity is None:
            text = self._run(["version", "--format", "{{json .}}"], what="version")
            try:
                versions = json.loads(text)
                daemon = str(versions["Server"]["Version"])
                client = str(versions["Client"]["Version"])
            except (ValueError, KeyError, TypeError) as exc:
                raise BuildError(
                    f"docker version gave no daemon version: {text.strip()[:200]!r}", hint=self._daemon_hint()
                ) from exc
            buildkit = f"embedded in docker {daemon}"
            if self.buildx():
                inspect = ["buildx", "inspect", *([self.builder] if self.builder else [])]
                match = _BUILDKIT_VERSION_RE.search(self._run(inspect, what="buildx inspect"))
                if match:
                    buildkit = match.group(1)
            self._identity = EngineIdentity(
                PROGRAM, daemon, components={"docker-client": client, "buildkit": buildkit}
            )
        return self._identity

    def capabilities(self) -> Capabilities:
        # The Dockerfile frontend built into BuildKit of Docker 20.10 (dockerfile 1.2): RUN
        # --mount secret/cache/bind/tmpfs, COPY --chmod, HEALTHCHECK/SHELL/STOPSIGNAL/ONBUILD
        # kept in the image config. Heredocs, COPY --link/--parents/--exclude, ADD --checksum,
        # ADD of a git URL, RUN --network/--security came later (dockerfile 1.4+) and a
        # "# syntax=" frontend cannot be pulled here; ssh needs an agent repro does not forward.
        # (S604: "shell" is the SHELL instruction, not a subprocess flag.)
        return Capabilities(  # noqa: S604
            engine=str(self.identity()),
            secrets=True,
            cache_mounts=True,
            bind_mounts=True,
            tmpfs_mounts=True,
            healthcheck=True,
            shell=True,
            stopsignal=True,
            onbuild=True,
            copy_chmod=True,
        )

    def noise(self) -> EngineNoise:
        # BuildKit writes no label about itself; the Docker daemon's own config keys
        # (container, container_config, docker_version) the normaliser always removes.
        # Measured on Docker 20.10's BuildKit: "ArgsEscaped": true in every image (it only
        # means something on Windows), the comment "buildkit.dockerfile.v0" on every history
        # entry, and empty 0755 dev/, etc/, proc/, sys/ entries in every RUN layer (the
        # runtime's mount points, there whether or not the base has them).
        return EngineNoise(
            runtime_keys=frozenset({"ArgsEscaped"}),
            history_comments=frozenset({BUILDKIT_COMMENT}),
            mount_directories=frozenset({"dev", "etc", "proc", "sys"}),
        )

    def varies(self) -> frozenset[str]:
        # The daemon runs the build: the client's environment and umask never reach it.
        return frozenset()

    # -- building ---------------------------------------------------------------------------

    def command(
        self, request: BuildRequest, options: RunOptions, image: str
    ) -> tuple[list[str], dict[str, str]]:
        """The argv and extra environment that build ``request`` into the daemon as ``image``."""
        if len(request.platforms) > 1:
            raise BuildError(
                f"the docker engine builds one platform per run, got {', '.join(request.platforms)}",
                hint="build each platform on its own",
            )
        if request.ca_bundle is not None:
            raise UsageError(
                "--ca-bundle: the docker engine cannot mount a CA bundle into RUN steps",
                hint="build with --engine buildah, or bake the CA into the base image",
            )
        refused = [r.host for r in request.registries if r.insecure and not _loopback(r.host)]
        if refused:
            raise UsageError(
                f"registries configured insecure ({', '.join(refused)}): a Docker daemon speaks plain "
                "http only to the registries its own configuration names",
                hint="add them to the daemon's insecure-registries, or build with --engine buildah",
            )
        epoch = str(request.source_date_epoch)
        argv = self._base_argv()
        env: dict[str, str] = {}
        if self.buildx():
            argv += ["buildx", "build", "--load"]
            if self.builder:
                argv += ["--builder", self.builder]
        else:
            argv += ["build"]
            env["DOCKER_BUILDKIT"] = "1"
        argv += ["--progress", "plain", "--no-cache", "--pull"]
        if self.network:
            argv += ["--network", self.network]
        argv += ["--build-arg", f"SOURCE_DATE_EPOCH={epoch}"]
        for name, value in request.build_args.items():
            argv += ["--build-arg", f"{name}={value}"]
        for key, value in sorted(request.labels.items()):
            argv += ["--label", f"{key}={value}"]
        for secret in request.secrets:
            argv += ["--secret", f"id={secret.id},src={_secret_file(secret, options.workdir)}"]
        if request.target:
            argv += ["--target", request.target]
        if request.platform:
            argv += ["--platform", request.platform]
        argv += ["--tag", image, "--file", str(request.dockerfile), str(request.context)]
        if request.auth_file is not None:
            env["DOCKER_CONFIG"] = str(request.auth_file.parent)
        return argv, env

    def build(
        self, request: BuildRequest, options: RunOptions, *, progress: ProgressCallback | None = None
    ) -> EngineOutput:
        identity = self.identity()
        options.workdir.mkdir(parents=True, exist_ok=True)
        image = f"repro-build-{random.token_hex(8)}:latest"
        registries = registry_config(request.registries)
        if any(r.mirrors for r in request.registries):
            routed, changes = route_images(
                request.dockerfile.read_bytes(),
                filename=str(request.dockerfile),
                build_args=request.build_args,
                config=registries,
            )
            for old, new in changes.items():
                logger.info("docker: %s pulled as %s (a mirror holding the pinned digest)", old, new)
            dockerfile = options.workdir / "Dockerfile.routed"
            dockerfile.write_bytes(routed)
            request = dataclasses.replace(request, dockerfile=dockerfile)
        argv, extra_env = self.command(request, options, image)
        env: Mapping[str, str] = {**os.environ, **extra_env}
        start = time.monotonic()
        seen: set[tuple[int, int, str]] = set()

        def on_line(line: str) -> None:
            elapsed = time.monotonic() - start
            event = parse_step(line, elapsed)
            if event is not None and (event.step, event.steps, event.instruction) not in seen:
                seen.add((event.step, event.steps, event.instruction))
                if progress is not None:
                    progress(event)
            if progress is not None:
                progress(BuildEvent(kind="output", text=line, elapsed=elapsed))

        logger.info("docker: %s", " ".join(argv))
        try:
            try:
                completed = self._stream(
                    argv, on_line=on_line, env=env, cwd=request.context, timeout=request.timeout, check=False
                )
            except ProcessError as exc:
                raise BuildError(f"docker build could not run: {exc}", hint=exc.hint) from exc
            if completed.returncode != 0:
                tail = "\n".join(
                    completed.stdout.decode("utf-8", "replace").rstrip().splitlines()[-_OUTPUT_TAIL_LINES:]
                )
                raise BuildError(
                    f"docker build failed with exit code {completed.returncode}:\n{tail}",
                    hint=self._daemon_hint(),
                )
            archive = options.workdir / "image.tar"
            self._run(["save", "--output", str(archive), image], timeout=request.timeout or 3600, what="save")
        finally:
            self._remove(image)
        docker_archive_to_layout(archive, request.output, request.tag, annotations=request.annotations)
        archive.unlink(missing_ok=True)
        check_base(request.output, request.tag, request.base, config=registries)
        return EngineOutput(
            layout=request.output,
            tag=request.tag,
            engine=identity,
            duration=time.monotonic() - start,
            command=tuple(argv),
            steps=len(seen),
        )

    def _remove(self, image: str) -> None:
        """Remove the build's image from the daemon (its layers stay in the daemon's cache)."""
        try:
            self._runner([*self._base_argv(), "image", "rm", "--force", image], timeout=120, check=False)
        except ProcessError as exc:  # the build's result is already saved; only a leftover tag
            logger.warning("could not remove %s from the daemon: %s", image, exc)


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in ("localhost", "::1", "[::1]") or name.startswith("127.")


__all__ = ["DockerEngine", "parse_step"]
