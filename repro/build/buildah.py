"""The buildah engine: one ``buildah build`` per request, in storage of its own.

Every build gets a storage root of repro's own (``--root``/``--runroot``, with the ``vfs``
driver: overlay adds entries such as ``run/`` to layers) and generated configuration, so
none reads the machine's ``/etc/containers``. The storage is private to the run (under
its ``workdir``, with ``--no-cache``: nothing is reused), unless the run may be warm
(:attr:`~repro.build.engine.RunOptions.cache_dir`): then it is the storage kept in
repro's cache, with buildah's layer cache on, so an unchanged step is not run again. One
build at a time holds it (a lock); a build that finds it taken builds in private storage
instead, as verify's second build always does. It is deleted (and starts empty at the
next build) when it grows beyond ``cache_max_bytes``. The generated files: ``storage.conf``, ``containers.conf`` (``CONTAINERS_CONF``),
``registries.conf`` in a private ``HOME`` (``CONTAINERS_REGISTRIES_CONF`` would still
merge the machine's ``registries.conf.d`` drop-ins, e.g. Debian's ``shortnames.conf``), an
empty drop-in directory, short-name alias cache, default mounts file and certificate
directory, and a signature policy (pins are checked by digest before the build).
Measured with strace: only buildah's re-executed helpers still look for
``/etc/containers/containers.conf`` and ``storage.conf``, which this machine lacks. Only registries configured ``insecure`` are
spoken to over plain http (per registry, never a global ``--tls-verify=false``).

The flags are the recipe that builds reproducibly with buildah 1.28: ``--isolation
chroot --layers --no-cache --pull=always --timestamp SDE --identity-label=false`` (a warm
build drops ``--no-cache``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.build.capabilities import Capabilities
from repro.build.dockerconfig import docker_extensions, rewrite_image_config, with_docker_extensions
from repro.build.engine import (
    BuildEvent,
    BuildRequest,
    EngineIdentity,
    EngineOutput,
    ProgressCallback,
    RegistrySettings,
    RunOptions,
)
from repro.errors import BuildError, ConfigError, ProcessError
from repro.layers.leftovers import CA_BUNDLE_MOUNT
from repro.layers.noise import EngineNoise
from repro.process import Runner, StreamRunner, run, run_streaming

logger = logging.getLogger(__name__)

PROGRAM = "buildah"
STORAGE_DRIVER = "vfs"
_VERSION_RE = re.compile(r"version\s+(\S+)")
_OUTPUT_TAIL_LINES = 30
#: The name of the built image inside the build's private storage.
_STORED_IMAGE = "localhost/repro-build:latest"
_INTERMEDIATE_COMMENT_RE = re.compile(r"FROM [0-9a-f]{12,64}")
#: Accept any image: repro checks every FROM is pinned by digest before building, and
#: the machine's /etc/containers/policy.json is not this build's business.
SIGNATURE_POLICY = '{"default": [{"type": "insecureAcceptAnything"}]}\n'
#: The label buildah writes about itself (also inherited from buildah-built bases).
IDENTITY_LABEL = "io.buildah.version"

# buildah prints "STEP 2/5: COPY a /a", prefixed with "[1/2] " in a multi-stage build.
_STEP_RE = re.compile(r"^(?:\[(\d+)/(\d+)\] )?STEP (\d+)/(\d+): (.*)$")


def parse_step(line: str, elapsed: float) -> BuildEvent | None:
    """The step event a buildah ``STEP n/m: …`` line announces, else None."""
    match = _STEP_RE.match(line)
    if match is None:
        return None
    stage, stages, step, steps, instruction = match.groups()
    return BuildEvent(
        kind="step",
        text=line,
        elapsed=elapsed,
        stage=int(stage or 1),
        stages=int(stages or 1),
        step=int(step),
        steps=int(steps),
        instruction=instruction,
    )


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string for everything a host name can hold.
    return json.dumps(value)


def registries_conf(registries: Sequence[RegistrySettings]) -> str:
    """A containers-registries.conf(5) v2 file for ``registries``.

    Short names resolve to docker.io, as Docker (and repro's reference parser) do.
    """
    insecure = {r.host for r in registries if r.insecure}
    lines = ['unqualified-search-registries = ["docker.io"]', 'short-name-mode = "permissive"', ""]
    for settings in sorted(registries, key=lambda r: r.host):
        lines += [
            "[[registry]]",
            f"prefix = {_toml_string(settings.host)}",
            f"location = {_toml_string(settings.host)}",
            f"insecure = {'true' if settings.insecure else 'false'}",
        ]
        for mirror in settings.mirrors:
            mirror_host = mirror.split("/", 1)[0]
            lines += [
                "[[registry.mirror]]",
                f"location = {_toml_string(mirror)}",
                f"insecure = {'true' if mirror_host in insecure else 'false'}",
            ]
        lines.append("")
    return "\n".join(lines)


def storage_conf(root: Path, runroot: Path) -> str:
    """A containers-storage.conf(5) that keeps everything under ``root`` with vfs."""
    return "\n".join(
        [
            "[storage]",
            f"driver = {_toml_string(STORAGE_DRIVER)}",
            f"graphroot = {_toml_string(str(root))}",
            f"runroot = {_toml_string(str(runroot))}",
            "",
        ]
    )


def _without_intermediate_ids(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the history comments "FROM <id>" that name buildah's intermediate
    images: in the Docker format those ids hash a random container host name, so they
    would differ between two builds of the same input, and name nothing a user can pull."""
    history = config.get("history")
    if not isinstance(history, list):
        return config
    cleaned = [
        {k: v for k, v in entry.items() if k != "comment"}
        if isinstance(entry, dict) and _INTERMEDIATE_COMMENT_RE.fullmatch(str(entry.get("comment", "")))
        else entry
        for entry in history
    ]
    return {**config, "history": cleaned}


@dataclass(frozen=True)
class _Storage:
    """Where one build's images live, and whether earlier builds' layers may be reused."""

    root: Path
    runroot: Path
    warm: bool = False

    @classmethod
    def private(cls, work: Path) -> _Storage:
        return cls(work / "storage", work / "run")


@contextlib.contextmanager
def _storage_for(options: RunOptions) -> Iterator[_Storage]:
    """The warm storage in ``options.cache_dir`` for the block, if this build can have it;
    else storage private to the run. The warm one is held with a lock: containers-storage
    locks its own files, but two builds tagging one image name would race."""
    if options.cache_dir is None:
        yield _Storage.private(options.workdir)
        return
    options.cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(options.cache_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("buildah: another build holds the warm storage; building in storage of its own")
            yield _Storage.private(options.workdir)
            return
        warm = _Storage(options.cache_dir / "storage", options.cache_dir / "run", warm=True)
        yield warm
        if options.cache_max_bytes is not None:
            _bound_storage(warm, options.cache_max_bytes)
    finally:
        os.close(fd)


def _bound_storage(storage: _Storage, max_bytes: int) -> None:
    """Delete the warm storage when it holds more than ``max_bytes``: the next build starts
    empty. Renamed first, so that a deletion cut short never leaves half a storage."""
    used = _disk_usage(storage.root)
    if used <= max_bytes:
        return
    logger.info("buildah: the warm storage holds %d MiB, over its bound: emptied", used >> 20)
    for directory in (storage.root, storage.runroot):
        if directory.exists():
            trash = directory.with_name(f".{directory.name}.deleted-{os.getpid()}")
            directory.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)


def _disk_usage(root: Path) -> int:
    total = 0
    pending = [root]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
    return total


class BuildahEngine:
    """Builds with ``buildah build`` (tested with 1.28) as a local process.

    ``runner`` runs short commands (``buildah --version``); ``stream`` runs the build and
    feeds its output lines back for progress. Tests substitute both.
    """

    name = PROGRAM

    def __init__(self, *, runner: Runner = run, stream: StreamRunner = run_streaming) -> None:
        self._runner = runner
        self._stream = stream
        self._version: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> BuildahEngine:
        """The engine for ``[tool.repro.engines.buildah]`` settings (it has none yet)."""
        if options:
            raise ConfigError(f"engines.buildah: unknown setting(s) {', '.join(sorted(options))}")
        return cls()

    def identity(self) -> EngineIdentity:
        return EngineIdentity(PROGRAM, self.version())

    def noise(self) -> EngineNoise:
        return EngineNoise(labels=frozenset({IDENTITY_LABEL}))

    def varies(self) -> frozenset[str]:
        return frozenset({"environment", "umask"})

    def version(self) -> str:
        """buildah's version (``1.28.2``); raises BuildError when buildah cannot run."""
        if self._version is None:
            try:
                completed = self._runner([PROGRAM, "--version"], timeout=60)
            except ProcessError as exc:
                raise BuildError(
                    f"{PROGRAM} cannot be run: {exc}",
                    hint="install buildah (Debian: apt-get install buildah)",
                ) from exc
            text = completed.stdout.decode("utf-8", "replace")
            match = _VERSION_RE.search(text)
            self._version = match.group(1) if match else text.strip() or "unknown"
        return self._version

    def capabilities(self) -> Capabilities:
        # Measured with buildah 1.28.2: RUN <<EOF fails ("Unknown instruction"), COPY <<EOF
        # looks for a file called "<<EOF"; ADD --checksum, COPY --link/--parents/--exclude,
        # RUN --network/--security are refused; an ADD of a git URL is fetched as a plain
        # HTTP download; RUN --mount=type=ssh runs without an agent (repro forwards none).
        # In the OCI format it drops HEALTHCHECK, SHELL (RUN even keeps using /bin/sh) and
        # ONBUILD, so repro builds in the Docker format and carries those fields into the
        # OCI config (see build()). (S604: "shell" is the SHELL instruction, not a subprocess.)
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
            build_contexts=True,
        )

    @staticmethod
    def _storage_argv(work: Path, storage: _Storage) -> list[str]:
        return [
            PROGRAM,
            "--root",
            str(storage.root),
            "--runroot",
            str(storage.runroot),
            "--storage-driver",
            STORAGE_DRIVER,
            "--registries-conf-dir",
            str(work / "registries.conf.d"),
            "--short-name-alias-conf",
            str(work / "short-name-aliases.conf"),
            "--default-mounts-file",
            str(work / "mounts.conf"),
        ]

    @staticmethod
    def _write_configuration(request: BuildRequest, work: Path, storage: _Storage) -> dict[str, str]:
        """The generated configuration files; returns the environment that points at them."""
        root, runroot, tmp, home = storage.root, storage.runroot, work / "tmp", work / "home"
        user_config = home / ".config" / "containers"
        for directory in (root, runroot, tmp, work / "registries.conf.d", work / "certs", user_config):
            directory.mkdir(parents=True, exist_ok=True)
        (user_config / "registries.conf").write_text(registries_conf(request.registries))
        (user_config / "registries.conf.d").mkdir(exist_ok=True)
        (work / "storage.conf").write_text(storage_conf(root, runroot))
        (work / "containers.conf").write_text("[containers]\n")
        (work / "short-name-aliases.conf").write_text("[aliases]\n")
        (work / "mounts.conf").write_text("")
        (work / "policy.json").write_text(SIGNATURE_POLICY)
        return {
            "HOME": str(home),
            "CONTAINERS_CONF": str(work / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(work / "storage.conf"),
            "TMPDIR": str(tmp),
        }

    def _export(
        self, request: BuildRequest, options: RunOptions, env: Mapping[str, str], storage: _Storage
    ) -> None:
        """Copy the built image from the build's storage to ``request.output`` as OCI, with
        the Docker-only config fields (HEALTHCHECK, ONBUILD, SHELL) the conversion drops."""
        argv = self._storage_argv(options.workdir, storage)
        # Writing to a local layout needs no credentials; an empty auth file keeps buildah
        # from reading (or failing on) the user's Docker configuration.
        no_auth = options.workdir / "export-auth.json"
        no_auth.write_text("{}")
        try:
            inspected = self._runner(
                [*argv, "inspect", "--type", "image", _STORED_IMAGE], env=env, timeout=300
            )
            self._runner(
                [
                    *argv,
                    "push",
                    "--quiet",
                    "--signature-policy",
                    str(options.workdir / "policy.json"),
                    "--authfile",
                    str(no_auth),
                    _STORED_IMAGE,
                    f"oci:{request.output}:{request.tag}",
                ],
                env=env,
                timeout=request.timeout,
            )
        except ProcessError as exc:
            raise BuildError(f"{PROGRAM} could not export the image it built: {exc}", hint=exc.hint) from exc
        try:
            docker_config = json.loads(inspected.stdout)["Docker"]["config"] or {}
        except (ValueError, KeyError, TypeError) as exc:
            raise BuildError(
                f"{PROGRAM} inspect gave no Docker config for the image it built: {exc}"
            ) from exc
        extensions = docker_extensions(docker_config)

        def finish(config: dict[str, Any]) -> dict[str, Any]:
            return _without_intermediate_ids(with_docker_extensions(config, extensions))

        # The Docker format has no manifest annotations: they are added to the OCI manifest here.
        rewrite_image_config(request.output, request.tag, finish, annotations=request.annotations)

    def command(
        self, request: BuildRequest, options: RunOptions, *, storage: _Storage | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """The argv and the extra environment that build ``request`` (files are written too)
        in ``storage`` (default: private to the run)."""
        if len(request.platforms) > 1:
            raise BuildError(
                f"{PROGRAM} builds one platform per run, got {', '.join(request.platforms)}",
                hint="build each platform on its own",
            )
        work = options.workdir
        storage = storage or _Storage.private(work)
        env = {**self._write_configuration(request, work, storage), **options.environment}
        epoch = str(request.source_date_epoch)
        argv = [
            *self._storage_argv(work, storage),
            "build",
            # The Docker format keeps HEALTHCHECK, SHELL and ONBUILD (and makes RUN use SHELL);
            # build() carries them into the OCI image.
            "--format",
            "docker",
            "--isolation",
            "chroot",
            "--layers",
            # Warm: an unchanged step (same instruction, parent and files) is taken from
            # the storage. Cold: every step runs.
            *([] if storage.warm else ["--no-cache"]),
            "--pull=always",
            "--timestamp",
            epoch,
            "--identity-label=false",
            "--signature-policy",
            str(work / "policy.json"),
            "--build-arg",
            f"SOURCE_DATE_EPOCH={epoch}",
        ]
        for name, value in request.build_args.items():
            argv += ["--build-arg", f"{name}={value}"]
        for key, value in sorted(request.labels.items()):
            argv += ["--label", f"{key}={value}"]
        for name, directory in sorted(request.build_contexts.items()):
            argv += ["--build-context", f"{name}={directory}"]
        for secret in request.secrets:
            # buildah mounts it for the RUN steps that ask for it; it never enters a layer.
            where = f"src={secret.source}" if secret.source is not None else f"env={secret.env or secret.id}"
            argv += ["--secret", f"id={secret.id},{where}"]
        if request.target:
            argv += ["--target", request.target]
        if request.platform:
            argv += ["--platform", request.platform]
        if request.ca_bundle is not None:
            argv += ["--volume", f"{request.ca_bundle}:{CA_BUNDLE_MOUNT}:ro"]
        if request.auth_file is not None:
            argv += ["--authfile", str(request.auth_file)]
        # Always a certificate directory of its own (empty without CA files), so the
        # machine's /etc/containers/certs.d is never consulted.
        cert_dir = work / "certs"
        for host, ca_file in [(r.host, r.ca_file) for r in request.registries if r.ca_file is not None]:
            shutil.copyfile(ca_file, cert_dir / f"{host.replace(':', '_')}.crt")
        argv += ["--cert-dir", str(cert_dir)]
        argv += [
            "-t",
            _STORED_IMAGE,
            "-f",
            str(request.dockerfile),
            str(request.context),
        ]
        if options.umask is not None:
            # The process runner has no umask parameter; a shell sets it and execs buildah.
            argv = ["sh", "-c", f'umask {options.umask:04o} && exec "$@"', "sh", *argv]
        return argv, env

    def build(
        self, request: BuildRequest, options: RunOptions, *, progress: ProgressCallback | None = None
    ) -> EngineOutput:
        identity = self.identity()
        with _storage_for(options) as storage:
            return self._build_in(request, options, storage, identity, progress)

    def _build_in(
        self,
        request: BuildRequest,
        options: RunOptions,
        storage: _Storage,
        identity: EngineIdentity,
        progress: ProgressCallback | None,
    ) -> EngineOutput:
        argv, extra_env = self.command(request, options, storage=storage)
        env: Mapping[str, str] = {**os.environ, **extra_env}
        start = time.monotonic()
        steps = 0

        def on_line(line: str) -> None:
            nonlocal steps
            elapsed = time.monotonic() - start
            event = parse_step(line, elapsed)
            if event is not None:
                steps += 1
                if progress is not None:
                    progress(event)
            if progress is not None:
                progress(BuildEvent(kind="output", text=line, elapsed=elapsed))

        logger.info("buildah: %s", " ".join(argv))
        try:
            completed = self._stream(
                argv, on_line=on_line, env=env, cwd=request.context, timeout=request.timeout, check=False
            )
        except ProcessError as exc:
            raise BuildError(f"{PROGRAM} build could not run: {exc}", hint=exc.hint) from exc
        if completed.returncode != 0:
            tail = "\n".join(
                completed.stdout.decode("utf-8", "replace").rstrip().splitlines()[-_OUTPUT_TAIL_LINES:]
            )
            hint = (
                "a layer reused from repro's cache may be at fault: try --no-cache" if storage.warm else None
            )
            raise BuildError(
                f"{PROGRAM} build failed with exit code {completed.returncode}:\n{tail}", hint=hint
            )
        self._export(request, options, env, storage)
        return EngineOutput(
            layout=request.output,
            tag=request.tag,
            engine=identity,
            duration=time.monotonic() - start,
            command=tuple(argv),
            steps=steps,
        )
