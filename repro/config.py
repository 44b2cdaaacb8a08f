"""repro's configuration: ``[tool.repro]`` in pyproject.toml, or a repro.toml.

Where it comes from, later entries winning:

1. built-in defaults;
2. exactly the file given with ``--config FILE`` / ``REPRO_CONFIG=FILE``; else the first
   ``repro.toml`` or ``pyproject.toml`` with a ``[tool.repro]`` table found in a starting
   directory (the Dockerfile's, then the build context's; the current directory for a
   command that names no file) or its parents, up to the root of the git repository that
   holds it;
3. ``REPRO_*`` environment variables;
4. command-line flags (applied by the CLI with :func:`dataclasses.replace`).

Per-registry settings are tables keyed by registry host::

    [registries."docker.io"]
    mirrors = ["127.0.0.1:5000/hub"]

    [registries."127.0.0.1:5000"]
    insecure = true
    max_concurrency = 8

    [registries."registry.example.com"]
    ca_file = "certs/ca.pem"

The build engine (``buildah`` unless set; ``--engine`` and ``REPRO_ENGINE`` win) and
settings of each engine::

    engine = "docker"

    [engines.docker]
    host = "ssh://builder@build-1.example.com"

In ``repro.toml`` the keys sit at the top level; in ``pyproject.toml`` under
``[tool.repro]`` (so ``[tool.repro.registries."docker.io"]``). A ``repro.toml`` that
holds the ``[tool.repro…]`` tables pasted from a ``pyproject.toml`` is read the same way.

The policy gate has its own table (see :class:`PolicyConfig`)::

    [policy]
    disable = ["REPRO-NET-001"]
    severity = { "REPRO-VER-001" = "note" }
    allowed_registries = ["docker.io", "ghcr.io/acme"]
    size_budget_mb = 300
    policy_dirs = ["policies"]
    exceptions = [
      { rule = "REPRO-USER-001", path = "tools/*", reason = "needs root for chroot", expires = "2026-06-30" },
    ]
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from repro.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENCY = 16
DEFAULT_TIMEOUT = 30.0
#: The bound on the normalisation cache, in MiB (``cache_max_mb``).
DEFAULT_CACHE_MAX_MB = 4096


@dataclass(frozen=True)
class RegistryConfig:
    """Settings for one registry host (``host`` or ``host:port``)."""

    mirrors: tuple[str, ...] = ()
    insecure: bool = False
    ca_file: Path | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY


@dataclass(frozen=True)
class PolicyException:
    """A finding the policy gate lets pass until ``expires``, for ``reason``.

    It matches findings of ``rule`` whose file matches the glob ``path`` (relative to the
    configuration file's directory) and whose image matches the glob ``image``; an absent
    ``path``/``image`` matches any.
    """

    rule: str
    reason: str
    expires: datetime.date
    path: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class PolicyConfig:
    """``[tool.repro.policy]``: how the policy gate judges findings."""

    disable: frozenset[str] = frozenset()
    severity: Mapping[str, str] = field(default_factory=dict)
    allowed_registries: tuple[str, ...] = ()
    size_budget_mb: float | None = None
    exceptions: tuple[PolicyException, ...] = ()
    policy_dirs: tuple[Path, ...] = ()
    #: The directory exception paths are relative to (the configuration file's).
    base_dir: Path | None = None


@dataclass(frozen=True)
class Config:
    """Everything configurable, already validated."""

    registries: Mapping[str, RegistryConfig] = field(default_factory=dict)
    #: Seconds to wait for a registry to connect or answer one read.
    timeout: float = DEFAULT_TIMEOUT
    #: One lock file for every Dockerfile (None: a repro.lock next to each Dockerfile).
    lockfile: Path | None = None
    #: Where the configuration came from, for messages (None: defaults only).
    source: Path | None = None
    #: The policy gate's settings.
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    #: A CA bundle mounted into every RUN step of a build (``--ca-bundle``).
    ca_bundle: Path | None = None
    #: The build engine's name (None: the default, buildah); checked by repro.build.engines.
    engine: str | None = None
    #: ``[engines.NAME]`` tables: settings each engine validates itself.
    engine_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Where repro keeps its caches (None: ``$XDG_CACHE_HOME/repro``, see :func:`cache_directory`).
    cache_dir: Path | None = None
    #: The bound on the normalisation cache, in MiB.
    cache_max_mb: int = DEFAULT_CACHE_MAX_MB
    #: Key signing: the Rekor transparency log signatures are uploaded to (``--tlog``).
    tlog: str | None = None

    def registry(self, host: str) -> RegistryConfig:
        """The settings for ``host``, or the defaults when it has none."""
        return self.registries.get(host, RegistryConfig())


_REGISTRY_KEYS = {"mirrors", "insecure", "ca_file", "max_concurrency"}
_TOP_KEYS = {
    "registries",
    "timeout",
    "lockfile",
    "policy",
    "ca_bundle",
    "engine",
    "engines",
    "cache_dir",
    "cache_max_mb",
    "tlog",
}
_POLICY_KEYS = {"disable", "severity", "allowed_registries", "size_budget_mb", "exceptions", "policy_dirs"}
_EXCEPTION_KEYS = {"rule", "path", "image", "reason", "expires"}
_SEVERITIES = ("error", "warning", "note")


def _expect(value: object, kind: type | tuple[type, ...], where: str) -> Any:
    # bool is an int in Python; a numeric setting must not accept `true`.
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def _unknown_keys(unknown: set[str], known: set[str], where: str) -> ConfigError:
    """'unknown key(s) …', with the known key each one most likely meant."""
    import difflib

    names = []
    for key in sorted(unknown):
        close = difflib.get_close_matches(key, sorted(known), n=1)
        names.append(f"{key} (did you mean {close[0]}?)" if close else key)
    return ConfigError(
        f"{where}: unknown key(s) {', '.join(names)}", hint=f"known keys: {', '.join(sorted(known))}"
    )


def _registry_from_table(host: str, raw: object, base_dir: Path, where: str) -> RegistryConfig:
    here = f'{where}: registries."{host}"'
    table: dict[str, object] = _expect(raw, dict, here)
    unknown = set(table) - _REGISTRY_KEYS
    if unknown:
        raise _unknown_keys(unknown, _REGISTRY_KEYS, here)
    mirrors = tuple(
        _expect(m, str, f"{here}.mirrors[]")
        for m in _expect(table.get("mirrors", []), list, f"{here}.mirrors")
    )
    insecure = _expect(table.get("insecure", False), bool, f"{here}.insecure")
    ca_file = None
    if "ca_file" in table:
        ca_file = base_dir / _expect(table["ca_file"], str, f"{here}.ca_file")
    max_concurrency = _expect(
        table.get("max_concurrency", DEFAULT_MAX_CONCURRENCY), int, f"{here}.max_concurrency"
    )
    if max_concurrency < 1:
        raise ConfigError(f"{here}.max_concurrency: must be at least 1")
    return RegistryConfig(
        mirrors=mirrors, insecure=insecure, ca_file=ca_file, max_concurrency=max_concurrency
    )


def _strings(raw: object, where: str) -> list[str]:
    return [_expect(item, str, f"{where}[]") for item in _expect(raw, list, where)]


def _exception_from_table(raw: object, base: str) -> PolicyException:
    table: dict[str, object] = _expect(raw, dict, base)
    unknown = set(table) - _EXCEPTION_KEYS
    if unknown:
        raise ConfigError(f"{base}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("rule", "reason", "expires"):
        if key not in table:
            raise ConfigError(
                f"{base}: '{key}' is required (an exception needs a rule, a reason and an expiry date)"
            )
    rule = _expect(table["rule"], str, f"{base}.rule")
    reason = _expect(table["reason"], str, f"{base}.reason").strip()
    if not reason:
        raise ConfigError(f"{base}.reason: must say why the exception exists")
    expires = table["expires"]
    if isinstance(expires, str):
        try:
            expires = datetime.date.fromisoformat(expires)
        except ValueError as exc:
            raise ConfigError(
                f"{base}.expires: expected a date YYYY-MM-DD, got {table['expires']!r}"
            ) from exc
    if isinstance(expires, datetime.datetime) or not isinstance(expires, datetime.date):
        raise ConfigError(f"{base}.expires: expected a date YYYY-MM-DD, got {expires!r}")
    path = _expect(table["path"], str, f"{base}.path") if "path" in table else None
    image = _expect(table["image"], str, f"{base}.image") if "image" in table else None
    return PolicyException(rule=rule, reason=reason, expires=expires, path=path, image=image)


def _policy_from_table(raw: object, base_dir: Path, where: str) -> PolicyConfig:
    here = f"{where}: policy"
    table: dict[str, object] = _expect(raw, dict, here)
    unknown = set(table) - _POLICY_KEYS
    if unknown:
        raise _unknown_keys(unknown, _POLICY_KEYS, here)
    severity_table: dict[str, object] = _expect(table.get("severity", {}), dict, f"{here}.severity")
    severity = {}
    for rule, level in severity_table.items():
        if level not in _SEVERITIES:
            raise ConfigError(
                f'{here}.severity."{rule}": expected one of {", ".join(_SEVERITIES)}, got {level!r}'
            )
        severity[rule] = str(level)
    budget = None
    if "size_budget_mb" in table:
        budget = float(_expect(table["size_budget_mb"], (int, float), f"{here}.size_budget_mb"))
        if not math.isfinite(budget) or budget <= 0:
            raise ConfigError(f"{here}.size_budget_mb: must be positive (and finite)")
    exceptions = tuple(
        _exception_from_table(item, f"{here}.exceptions[{index}]")
        for index, item in enumerate(_expect(table.get("exceptions", []), list, f"{here}.exceptions"))
    )
    return PolicyConfig(
        disable=frozenset(_strings(table.get("disable", []), f"{here}.disable")),
        severity=severity,
        allowed_registries=tuple(_strings(table.get("allowed_registries", []), f"{here}.allowed_registries")),
        size_budget_mb=budget,
        exceptions=exceptions,
        policy_dirs=tuple(
            base_dir / d for d in _strings(table.get("policy_dirs", []), f"{here}.policy_dirs")
        ),
        base_dir=base_dir,
    )


#: Defaults of :class:`ScanLimits`.
DEFAULT_MAX_FILE_MB: Final = 128
DEFAULT_MAX_EXPANSION: Final = 100.0
#: Every image may expand to at least this much, whatever its compressed size.
EXPANSION_FLOOR: Final = 64 * 1024 * 1024


@dataclass(frozen=True)
class ScanLimits:
    """What reading an image's layers may cost (``repro sbom``, the release file scan).

    ``max_file_size``: the largest file a cataloger reads into memory (a dpkg status, an
    RPM database); ``max_expansion``: how many times its compressed size an image's
    layers may expand to (at least :data:`EXPANSION_FLOOR`), against decompression bombs.
    """

    max_file_size: int = DEFAULT_MAX_FILE_MB * 1024 * 1024
    max_expansion: float = DEFAULT_MAX_EXPANSION

    def expansion_limit(self, compressed: int) -> int:
        return max(EXPANSION_FLOOR, int(compressed * self.max_expansion))


def scan_limits(environ: Mapping[str, str] | None = None) -> ScanLimits:
    """The :class:`ScanLimits` set by ``REPRO_MAX_FILE_MB`` and ``REPRO_MAX_EXPANSION``."""
    env = os.environ if environ is None else environ
    limits = ScanLimits()
    for name in ("REPRO_MAX_FILE_MB", "REPRO_MAX_EXPANSION"):
        raw = env.get(name)
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}: not a number: {raw!r}") from exc
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name}: must be a positive finite number, got {raw!r}")
        if name == "REPRO_MAX_FILE_MB":
            limits = dataclasses.replace(limits, max_file_size=int(value * 1024 * 1024))
        else:
            limits = dataclasses.replace(limits, max_expansion=value)
    return limits


def _seconds(value: float, where: str) -> float:
    """A duration in seconds: positive and finite (``nan`` and ``inf`` would disable the bound)."""
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{where}: must be a positive number of seconds, got {value!r}")
    return seconds


def from_mapping(data: Mapping[str, object], *, base_dir: Path, where: str) -> Config:
    """Validate a parsed ``[tool.repro]`` (or repro.toml) table."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _unknown_keys(unknown, _TOP_KEYS, where)
    registries_table = _expect(data.get("registries", {}), dict, f"{where}: registries")
    registries = {
        host: _registry_from_table(host, table, base_dir, where) for host, table in registries_table.items()
    }
    timeout = _seconds(
        _expect(data.get("timeout", DEFAULT_TIMEOUT), (int, float), f"{where}: timeout"), f"{where}: timeout"
    )
    lockfile = None
    if "lockfile" in data:
        lockfile = base_dir / _expect(data["lockfile"], str, f"{where}: lockfile")
    policy = _policy_from_table(data["policy"], base_dir, where) if "policy" in data else PolicyConfig()
    ca_bundle = None
    if "ca_bundle" in data:
        ca_bundle = base_dir / _expect(data["ca_bundle"], str, f"{where}: ca_bundle")
    engine = _expect(data["engine"], str, f"{where}: engine") if "engine" in data else None
    cache_dir = None
    if "cache_dir" in data:
        cache_dir = base_dir / Path(_expect(data["cache_dir"], str, f"{where}: cache_dir")).expanduser()
    cache_max_mb = _expect(data.get("cache_max_mb", DEFAULT_CACHE_MAX_MB), int, f"{where}: cache_max_mb")
    if cache_max_mb < 1:
        raise ConfigError(f"{where}: cache_max_mb: must be at least 1")
    tlog = _expect(data["tlog"], str, f"{where}: tlog") if "tlog" in data else None
    if tlog is not None and not tlog.startswith(("https://", "http://")):
        raise ConfigError(f"{where}: tlog: expected the base URL of a Rekor log (https://…), got {tlog!r}")
    return Config(
        registries=registries,
        timeout=timeout,
        lockfile=lockfile,
        policy=policy,
        ca_bundle=ca_bundle,
        engine=engine,
        engine_options=_engines_from_table(data.get("engines", {}), where),
        cache_dir=cache_dir,
        cache_max_mb=cache_max_mb,
        tlog=tlog,
    )


def _engines_from_table(raw: object, where: str) -> dict[str, dict[str, str]]:
    """``[engines.NAME]`` tables of string settings (each engine checks its own keys)."""
    tables: dict[str, object] = _expect(raw, dict, f"{where}: engines")
    options: dict[str, dict[str, str]] = {}
    for name, table in tables.items():
        here = f"{where}: engines.{name}"
        settings: dict[str, object] = _expect(table, dict, here)
        options[name] = {key: _expect(value, str, f"{here}.{key}") for key, value in settings.items()}
    return options


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): is it a TOML file?") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: nested too deeply to be a configuration file") from exc


def _table_of(path: Path) -> dict[str, Any] | None:
    """The repro table in ``path``, or None when a pyproject.toml has none."""
    data = _read_toml(path)
    if path.name != "pyproject.toml" and "tool" not in data:
        return data
    tool = data.get("tool", {})
    table = tool.get("repro") if isinstance(tool, dict) else None
    if path.name == "pyproject.toml":
        if table is None:
            return None
        return dict(_expect(table, dict, f"{path}: [tool.repro]"))
    # A repro.toml with the [tool.repro] block pasted from a pyproject.toml: the same
    # settings, one level down. Anything beside it would be ignored, so it is refused.
    others = sorted(set(data) - {"tool"}) + sorted(f"tool.{k}" for k in tool if k != "repro")
    if table is None or others:
        raise ConfigError(
            f"{path}: a repro.toml holds repro's keys at the top level or under [tool.repro], not "
            + (f"{', '.join(others)} beside [tool.repro]" if table is not None else "other [tool.*] tables"),
            hint='in repro.toml write [registries."HOST"] (or [tool.repro.registries."HOST"]); '
            "[tool.*] tables of other tools belong in pyproject.toml",
        )
    return dict(_expect(table, dict, f"{path}: [tool.repro]"))


def _is_repository_root(directory: Path) -> bool:
    return (directory / ".git").exists()


def find_config_file(start: Path) -> Path | None:
    """The first repro.toml, or pyproject.toml with [tool.repro], in start or its parents.

    The search stops at the root of the git repository ``start`` is in (the directory with
    ``.git``): a file above it belongs to something else. Outside a repository it goes up
    to ``/``.
    """
    start = start.resolve()
    directory = start if start.is_dir() else start.parent
    for candidate_dir in (directory, *directory.parents):
        for name in ("repro.toml", "pyproject.toml"):
            candidate = candidate_dir / name
            if candidate.is_file() and (name == "repro.toml" or _table_of(candidate) is not None):
                return candidate
        if _is_repository_root(candidate_dir):
            return None
    return None


def _apply_env(config: Config, environ: Mapping[str, str]) -> Config:
    """Apply REPRO_* overrides.

    - ``REPRO_TIMEOUT=SECONDS``
    - ``REPRO_INSECURE_REGISTRIES=host[,host…]``
    - ``REPRO_REGISTRY_MIRRORS=host=mirror[;mirror…][,host=…]``
    - ``REPRO_MAX_CONCURRENCY=N`` (every registry)
    - ``REPRO_LOCKFILE=PATH``
    - ``REPRO_ENGINE=NAME``
    - ``REPRO_CACHE_DIR=DIR``
    """
    registries = dict(config.registries)
    if raw := environ.get("REPRO_LOCKFILE"):
        config = dataclasses.replace(config, lockfile=Path(raw))
    if raw := environ.get("REPRO_ENGINE"):
        config = dataclasses.replace(config, engine=raw.strip())
    if raw := environ.get("REPRO_CACHE_DIR"):
        config = dataclasses.replace(config, cache_dir=Path(raw).expanduser())
    if raw := environ.get("REPRO_TIMEOUT"):
        try:
            timeout = _seconds(float(raw), "REPRO_TIMEOUT")
        except ValueError as exc:
            raise ConfigError(f"REPRO_TIMEOUT: not a number: {raw!r}") from exc
        config = dataclasses.replace(config, timeout=timeout)
    if raw := environ.get("REPRO_INSECURE_REGISTRIES"):
        for host in filter(None, (h.strip() for h in raw.split(","))):
            registries[host] = dataclasses.replace(registries.get(host, RegistryConfig()), insecure=True)
    if raw := environ.get("REPRO_REGISTRY_MIRRORS"):
        for item in filter(None, (i.strip() for i in raw.split(","))):
            host, sep, mirrors = item.partition("=")
            if not sep or not host or not mirrors:
                raise ConfigError(f"REPRO_REGISTRY_MIRRORS: expected host=mirror[;mirror], got {item!r}")
            registries[host] = dataclasses.replace(
                registries.get(host, RegistryConfig()), mirrors=tuple(m for m in mirrors.split(";") if m)
            )
    if raw := environ.get("REPRO_MAX_CONCURRENCY"):
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"REPRO_MAX_CONCURRENCY: expected a positive integer, got {raw!r}")
        registries = {h: dataclasses.replace(r, max_concurrency=int(raw)) for h, r in registries.items()}
    return dataclasses.replace(config, registries=registries)


def cache_directory(config: Config, environ: Mapping[str, str] | None = None) -> Path:
    """Where repro keeps its caches: ``cache_dir`` (or ``REPRO_CACHE_DIR``), else
    ``$XDG_CACHE_HOME/repro``, else ``~/.cache/repro``."""
    if config.cache_dir is not None:
        return config.cache_dir
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path(env.get("HOME") or Path.home()) / ".cache"
    return base / "repro"


def load_config(
    start: Path | Sequence[Path] | None = None,
    *,
    explicit: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load the configuration that applies to ``start``: a Dockerfile or directory, or several
    tried in order (the Dockerfile, then the build context); none: the current directory.

    ``explicit`` (``--config``) wins over ``REPRO_CONFIG``, which wins over discovery.
    """
    env = os.environ if environ is None else environ
    path = explicit
    if path is None and env.get("REPRO_CONFIG"):
        path = Path(env["REPRO_CONFIG"])
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        table = _table_of(path)
        if table is None:
            raise ConfigError(f"{path}: has no [tool.repro] table")
    else:
        starts = [start] if isinstance(start, Path) else list(start or ())
        table = None
        # The current directory only when the command names no file: a project's Dockerfile
        # must not pick up the settings of whatever directory the command runs in.
        for candidate in starts or [Path.cwd()]:
            path = find_config_file(candidate)
            if path is not None:
                table = _table_of(path)
                break
    if path is not None and table is not None:
        logger.info("configuration: %s", path)
        config = from_mapping(table, base_dir=path.parent, where=str(path))
        config = dataclasses.replace(config, source=path)
    else:
        logger.info("configuration: none found (defaults)")
        config = Config()
    return _apply_env(config, env)
