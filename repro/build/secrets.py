"""Build secrets: ``--secret`` read in BuildKit's syntax and checked against the Dockerfile.

A secret reaches ``RUN --mount=type=secret,id=ID`` steps only: the engine mounts it
for the step and it is in no layer, no config, no history and no report.

    >>> parse_secret("id=npm,src=/home/me/.npmrc")
    BuildSecret(id='npm', source=PosixPath('/home/me/.npmrc'), env=None)
    >>> parse_secret("id=GITHUB_TOKEN,env=GH_TOKEN")
    BuildSecret(id='GITHUB_TOKEN', source=None, env='GH_TOKEN')

Before any build, :func:`check_secrets` refuses a secret the Dockerfile requires
(``required=true``) that was not given, naming the line; a source file that cannot be
read; an environment variable that is not set; and a source file inside the build
context that ``.dockerignore`` does not leave out (``COPY . …`` would put it in the image).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from repro.build.dockerignore import read_ignore_file
from repro.build.engine import BuildSecret
from repro.build.mounts import run_mounts
from repro.dockerfile import Dockerfile, StageGraph
from repro.errors import UsageError

_KEYS = frozenset({"id", "src", "source", "env", "type"})


class SecretError(UsageError):
    """A ``--secret`` is malformed, missing, unreadable, or would leak into the image."""

    default_hint = "pass each secret as --secret id=ID,src=FILE or --secret id=ID,env=VARIABLE"


def parse_secret(text: str) -> BuildSecret:
    """``id=ID[,src=PATH|,env=VAR][,type=file|env]``, as ``docker buildx build --secret`` reads it.

    Without ``src`` or ``env`` the secret is the environment variable named ``ID``.
    """
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in _KEYS:
            raise SecretError(f"--secret {text}: expected id=ID,src=FILE or id=ID,env=VARIABLE")
        if key in fields or (key in ("src", "source") and ({"src", "source"} & fields.keys())):
            raise SecretError(f"--secret {text}: {key} given twice")
        fields[key] = value
    secret_id = fields.get("id", "")
    if not secret_id:
        raise SecretError(f"--secret {text}: the id is missing")
    kind = fields.get("type")
    source = fields.get("src", fields.get("source"))
    env = fields.get("env")
    if kind not in (None, "file", "env"):
        raise SecretError(f"--secret {text}: type must be file or env")
    if source is not None and env is not None:
        raise SecretError(f"--secret {text}: give src or env, not both")
    if kind == "env" and source is not None:
        env, source = source, None  # buildx: type=env,src=VAR names the variable
    if kind == "file" and env is not None:
        raise SecretError(f"--secret {text}: type=file takes src=FILE")
    if source is None and env is None:
        if kind == "file":
            raise SecretError(f"--secret {text}: type=file takes src=FILE")
        env = secret_id
    if source is not None and not source:
        raise SecretError(f"--secret {text}: src is empty")
    return BuildSecret(id=secret_id, source=Path(source) if source is not None else None, env=env)


def parse_secrets(texts: Iterable[str]) -> tuple[BuildSecret, ...]:
    """Every ``--secret`` of a command line; an id given twice is an error."""
    secrets: dict[str, BuildSecret] = {}
    for text in texts:
        secret = parse_secret(text)
        if secret.id in secrets:
            raise SecretError(f"--secret id={secret.id} given twice")
        secrets[secret.id] = secret
    return tuple(secrets.values())


def secret_value(secret: BuildSecret, environ: Mapping[str, str] | None = None) -> bytes:
    """The secret's bytes (to check it can be read, and to keep it out of logs)."""
    env = os.environ if environ is None else environ
    if secret.source is not None:
        try:
            return secret.source.read_bytes()
        except OSError as exc:
            raise SecretError(
                f"--secret id={secret.id}: cannot read {secret.source}: {exc.strerror}"
            ) from None
    name = secret.env or secret.id
    if name not in env:
        raise SecretError(f"--secret id={secret.id}: the environment variable {name} is not set")
    return env[name].encode()


def check_secrets(
    dockerfile: Dockerfile | StageGraph,
    secrets: Sequence[BuildSecret],
    *,
    context: Path,
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Refuse, before any build, what would make a secret fail or leak (see the module doc)."""
    df = dockerfile.dockerfile if isinstance(dockerfile, StageGraph) else dockerfile
    filename = str(path) if path is not None else df.filename
    given = {secret.id for secret in secrets}
    missing = [
        (mount.id or "", mount.line)
        for ins in df.instructions
        for mount in run_mounts(ins, filename=filename)
        if mount.type == "secret" and mount.required and mount.id not in given
    ]
    if missing:
        ids = sorted({secret_id for secret_id, _ in missing})
        lines = "\n".join(
            f"  {filename}:{line}: RUN --mount=type=secret,id={secret_id},required=true"
            for secret_id, line in missing
        )
        raise SecretError(
            f"the Dockerfile requires secret(s) that were not given: {', '.join(ids)}\n{lines}",
            hint=f"pass it with --secret id={ids[0]},src=FILE (or env=VARIABLE)",
        )
    ignore = None
    root = context.resolve()
    for secret in secrets:
        secret_value(secret, environ)
        if secret.source is None:
            continue
        try:
            inside = secret.source.resolve().relative_to(root).as_posix()
        except ValueError:
            continue
        ignore = ignore or read_ignore_file(context)
        if not ignore.excludes(inside):
            raise SecretError(
                f"--secret id={secret.id}: {secret.source} is inside the build context and "
                ".dockerignore does not leave it out: a COPY of the context would put it in the image",
                hint=f"move the file out of the build context, or add {inside} to .dockerignore",
            )


__all__ = ["BuildSecret", "SecretError", "check_secrets", "parse_secret", "parse_secrets", "secret_value"]
