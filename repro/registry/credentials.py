"""Registry credentials from Docker's ``config.json`` and ``docker-credential-*`` helpers.

:class:`CredentialStore` answers "what should repro send to this registry?" the way the
Docker CLI would, so that a registry a user reaches with ``docker pull`` is reachable with
repro too, with the same account::

    store = CredentialStore()
    credential = store.get("ghcr.io")  # None: anonymous access

Secrets never appear in reprs, log records or error messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import AuthenticationError, ConfigError, ProcessError, ReferenceFormatError
from repro.process import Runner, run

logger = logging.getLogger(__name__)

#: The key Docker files Docker Hub credentials under, and the server URL it sends to
#: credential helpers for Docker Hub.
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
DOCKER_HUB_HOST = "docker.io"
CONFIG_FILENAME = "config.json"
HELPER_PREFIX = "docker-credential-"
#: Seconds a credential helper may take (it may be waiting on a keychain unlock).
HELPER_TIMEOUT = 30.0

# Names under which config.json files may carry Docker Hub credentials.
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# Helpers built on docker-credential-helpers print exactly this (exit status 1) when they
# hold nothing for the server; a few others word it slightly differently.
_NOT_FOUND_MARKER = "credentials not found"
_TOKEN_USERNAME = "<token>"  # noqa: S105  -- the protocol's marker, not a secret
# A helper name becomes part of a program name looked up on PATH: no path separators.
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


@dataclass(frozen=True)
class Credential:
    """What to authenticate to one registry with.

    Either ``username`` and ``password`` (HTTP basic, or the password grant of the token
    flow), or an ``identity_token``: an OAuth2 refresh token for the registry's Bearer
    token flow, in which case ``username`` may be set but is not needed.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"Credential(username={self.username!r}, password={_redacted(self.password)}, "
            f"identity_token={_redacted(self.identity_token)})"
        )

    __str__ = __repr__


def _redacted(secret: str | None) -> str:
    return "None" if secret is None else "<redacted>"


def _host_of(key: str) -> str:
    """``host[:port]`` named by a registry name or a config.json key, Hub as docker.io.

    Accepts what ``docker login`` and older tools wrote: ``https://index.docker.io/v1/``,
    ``http://host:port``, ``https://host:port/v2/``, ``host/path``, bare ``host:port``.
    """
    text = key.strip().lower()
    _, scheme_sep, rest = text.partition("://")
    if scheme_sep:
        text = rest
    host = text.split("/", 1)[0]
    host = host.rsplit("@", 1)[-1]  # user@host in a URL: the user is not part of the key
    return DOCKER_HUB_HOST if host in _HUB_ALIASES else host


def _server_url(host: str) -> str:
    """The server address Docker uses for ``host``: as key, and on a helper's stdin."""
    return DOCKER_HUB_SERVER if host == DOCKER_HUB_HOST else host


def _matching_keys(keys: Iterable[str], host: str, server_url: str) -> list[str]:
    """Keys of a config.json table that name ``host``, the exact server address first.

    Docker looks up the exact server address and otherwise takes any key whose hostname
    matches; among several such keys repro keeps the file's order, so the answer is
    deterministic.
    """
    matching = [key for key in keys if _host_of(key) == host]
    return sorted(matching, key=lambda key: key != server_url)


@dataclass(frozen=True)
class _DockerConfig:
    """The parts of one config.json that say where credentials come from."""

    path: Path
    auths: Mapping[str, object]
    creds_store: str | None
    cred_helpers: Mapping[str, str]

    @classmethod
    def empty(cls, path: Path) -> _DockerConfig:
        return cls(path=path, auths={}, creds_store=None, cred_helpers={})

    @classmethod
    def load(cls, path: Path) -> _DockerConfig:
        # Messages name the file and the broken part, never quote it: it may hold secrets.
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls.empty(path)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read Docker config: {exc.strerror}") from None
        try:
            document = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}: Docker config is not valid JSON (line {exc.lineno}, column {exc.colno})",
                hint=f"fix or remove {path}; 'docker login' rewrites it",
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: Docker config is not UTF-8 text") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: Docker config must be a JSON object")

        auths = document.get("auths")
        if auths is None:
            auths = {}
        if not isinstance(auths, dict):
            raise ConfigError(f"{path}: 'auths' must be a JSON object")

        creds_store = document.get("credsStore")
        if creds_store is not None and not isinstance(creds_store, str):
            raise ConfigError(f"{path}: 'credsStore' must be a string")
        if creds_store:
            _check_helper_name(path, "credsStore", creds_store)

        cred_helpers = document.get("credHelpers")
        if cred_helpers is None:
            cred_helpers = {}
        if not isinstance(cred_helpers, dict) or not all(
            isinstance(name, str) for name in cred_helpers.values()
        ):
            raise ConfigError(f"{path}: 'credHelpers' must map registry hosts to helper names")
        for registry, name in cred_helpers.items():
            if name:
                _check_helper_name(path, f"credHelpers[{registry!r}]", name)

        return cls(path=path, auths=auths, creds_store=creds_store or None, cred_helpers=cred_helpers)


def _check_helper_name(path: Path, where: str, name: str) -> None:
    if not _HELPER_NAME.fullmatch(name):
        raise ConfigError(
            f"{path}: {where} is not a credential helper name",
            hint='write the part after \'docker-credential-\', e.g. "pass" or "ecr-login"',
        )


class CredentialStore:
    """Looks up registry credentials as the Docker CLI does.

    The configuration is ``config.json`` in ``config_dir``, else in ``$DOCKER_CONFIG``,
    else in ``~/.docker``; a missing file means no credentials. For a registry, the first
    of these that applies decides:

    1. ``credHelpers[registry]``: run ``docker-credential-<name>``;
    2. ``credsStore``: run ``docker-credential-<name>``;
    3. ``auths[registry]``: ``auth`` (base64 ``user:password``), or ``username`` and
       ``password``, and ``identitytoken``.

    Like the Docker CLI, a helper selected by (1) or (2) has the last word: if it holds
    nothing for the registry, the answer is "no credentials", and an ``auths`` entry for
    the same registry is *not* used. ``auths`` entries next to a ``credsStore`` are
    usually the empty placeholders ``docker login`` leaves behind, or stale plain-text
    secrets from before the store was set up; using them would let repro authenticate as
    someone ``docker pull`` does not. Also as in Docker, an empty ``credHelpers`` entry
    (``"ghcr.io": ""``) selects ``auths`` for that registry even when ``credsStore`` is
    set.

    Registry names match keys written as URLs or with a path
    (``https://host:port/v2/``); Docker Hub (``docker.io``) matches
    ``https://index.docker.io/v1/``, ``index.docker.io``, ``registry-1.docker.io`` and
    ``docker.io``, the canonical key first. This applies to ``credHelpers`` keys too,
    which Docker itself matches only exactly. Helpers are asked about
    ``https://index.docker.io/v1/`` for Docker Hub and about ``host[:port]`` otherwise.

    Answers are cached for the life of the store: each registry costs at most one helper
    run. ``environ`` replaces ``os.environ`` for finding the configuration and is the
    environment helpers run in.
    """

    def __init__(
        self,
        config_dir: Path | None = None,
        *,
        runner: Runner = run,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        if config_dir is None:
            docker_config = env.get("DOCKER_CONFIG")
            if docker_config:
                config_dir = Path(docker_config)
            else:
                home = env.get("HOME")
                config_dir = (Path(home) if home else Path.home()) / ".docker"
        self.config_path = config_dir / CONFIG_FILENAME
        self._runner = runner
        self._helper_env = None if environ is None else dict(environ)
        self._config: _DockerConfig | None = None
        self._cache: dict[str, Credential | None] = {}
        self._lock = threading.Lock()

    def get(self, registry: str) -> Credential | None:
        """Credentials for ``registry`` (``host[:port]``), or None for anonymous access.

        Raises :class:`~repro.errors.ConfigError` for a config.json that cannot be read
        or parsed, and :class:`~repro.errors.AuthenticationError` when a credential helper
        is missing or fails.
        """
        host = _host_of(registry)
        if not host:
            raise ReferenceFormatError(f"{registry!r} does not name a registry host")
        with self._lock:
            if host not in self._cache:
                self._cache[host] = self._lookup(host)
            return self._cache[host]

    def _load_config(self) -> _DockerConfig:
        if self._config is None:
            self._config = _DockerConfig.load(self.config_path)
        return self._config

    def _lookup(self, host: str) -> Credential | None:
        config = self._load_config()
        server_url = _server_url(host)
        helper_keys = _matching_keys(config.cred_helpers, host, server_url)
        helper = config.cred_helpers[helper_keys[0]] if helper_keys else config.creds_store
        if helper:
            return self._from_helper(helper, server_url, host)
        return self._from_auths(config, host, server_url)

    def _from_auths(self, config: _DockerConfig, host: str, server_url: str) -> Credential | None:
        keys = _matching_keys(config.auths, host, server_url)
        if not keys:
            logger.debug("no credentials for %s in %s", host, config.path)
            return None
        key = keys[0]
        credential = _parse_auths_entry(config.path, key, config.auths[key])
        if credential is None:
            logger.debug("auths entry %r in %s holds no credentials", key, config.path)
        else:
            logger.debug("credentials for %s from auths entry %r in %s", host, key, config.path)
        return credential

    def _from_helper(self, name: str, server_url: str, host: str) -> Credential | None:
        program = HELPER_PREFIX + name
        # Messages name the helper and its exit code only: its output carries secrets.
        try:
            completed = self._runner(
                [program, "get"],
                input=server_url.encode(),
                env=self._helper_env,
                timeout=HELPER_TIMEOUT,
                check=False,
            )
        except ProcessError as exc:
            cause = exc.__cause__
            if isinstance(cause, FileNotFoundError):
                raise AuthenticationError(
                    f"credential helper {program} is not installed",
                    hint=f"install {program} and put it on PATH, or remove {name!r} from "
                    f"'credHelpers'/'credsStore' in {self.config_path}",
                ) from None
            if isinstance(cause, subprocess.TimeoutExpired):
                raise AuthenticationError(
                    f"credential helper {program} did not answer within {HELPER_TIMEOUT:g} s",
                    hint=f"check that {program} can run without a prompt (e.g. an unlocked keychain)",
                ) from None
            raise AuthenticationError(f"credential helper {program} could not be run") from None
        except OSError as exc:
            raise AuthenticationError(
                f"credential helper {program} could not be started: {exc.strerror}"
            ) from None

        if completed.returncode != 0:
            if _says_not_found(completed.stdout) or _says_not_found(completed.stderr):
                logger.debug("credential helper %s has no credentials for %s", program, host)
                return None
            raise AuthenticationError(
                f"credential helper {program} failed for {host} with exit code {completed.returncode}",
                hint=f"run '{program} get' by hand with the registry address on stdin to see why",
            )

        credential = _parse_helper_output(program, completed.stdout)
        if credential is None:
            logger.debug("credential helper %s returned an empty secret for %s", program, host)
        else:
            logger.debug("credentials for %s from credential helper %s", host, program)
        return credential


def _says_not_found(output: bytes) -> bool:
    return _NOT_FOUND_MARKER in output.decode("utf-8", "replace").lower()


def _parse_helper_output(program: str, stdout: bytes) -> Credential | None:
    malformed = AuthenticationError(
        f"credential helper {program} answered with something other than "
        '{"ServerURL", "Username", "Secret"} JSON',
        hint=f"check that {program} implements the docker-credential-helpers protocol",
    )
    try:
        payload = json.loads(stdout)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise malformed from None
    if not isinstance(payload, dict):
        raise malformed
    # Missing fields are empty strings, as when Docker decodes the answer.
    username = payload.get("Username") or ""
    secret = payload.get("Secret") or ""
    if not isinstance(username, str) or not isinstance(secret, str):
        raise malformed
    if not secret:
        return None
    if username == _TOKEN_USERNAME:
        return Credential(identity_token=secret)
    return Credential(username=username or None, password=secret)


def _parse_auths_entry(path: Path, key: str, entry: object) -> Credential | None:
    where = f"{path}: auths entry {key!r}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a JSON object")
    fields: dict[str, str] = {}
    for name in ("auth", "username", "password", "identitytoken"):
        value = entry.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {name!r} must be a string")
        fields[name] = value

    username = fields.get("username") or None
    password = fields.get("password") or None
    if fields.get("auth"):
        username, password = _decode_auth(where, fields["auth"])
    identity_token = fields.get("identitytoken") or None
    if identity_token is not None:
        return Credential(username=username, identity_token=identity_token)
    if password is None:
        return None
    return Credential(username=username, password=password)


def _decode_auth(where: str, auth: str) -> tuple[str | None, str | None]:
    invalid = ConfigError(
        f"{where}: 'auth' is not base64 of 'username:password'",
        hint="run 'docker login' for this registry again",
    )
    try:
        decoded = base64.b64decode(auth, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise invalid
    # Docker trims NUL padding some old writers left after the password.
    password = password.strip("\x00")
    return username or None, password or None
