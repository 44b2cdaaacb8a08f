"""``repro doctor``: what each feature needs on this machine, checked one thing at a time.

Each :class:`DoctorCheck` is one line for a person (or one JSON object): what was checked,
for which feature, what was found, and the fix when something is missing. A check is
``required`` when a feature the user configured or asked for cannot work without it (an
engine for building, a configured registry, the key given with ``--key``, an emulator for
a platform given with ``--platform``); :attr:`DoctorReport.ok` is False when a required
check failed. Secrets are never part of a check: credentials are reported by where they
were found, never by value.

    >>> report = run_doctor(Config(), check_registries=False)   # doctest: +SKIP
    >>> [c.name for c in report.checks][:2]                      # doctest: +SKIP
    ['configuration', 'buildah']
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from repro.build.emulation import BINFMT_DIR, QEMU_NAMES, binfmt_entries
from repro.config import Config
from repro.errors import Error
from repro.platform import Platform
from repro.process import Runner, run

__all__ = ["DoctorCheck", "DoctorReport", "run_doctor"]

OK: Final = "ok"
MISSING: Final = "missing"  # something a feature needs is absent or broken
WARNING: Final = "warning"  # works, with a caveat
INFO: Final = "info"  # optional, or not applicable

#: The trust store this machine's programs use (Debian, Ubuntu; SSL_CERT_FILE overrides it).
SYSTEM_CA_BUNDLE: Final = Path("/etc/ssl/certs/ca-certificates.crt")
#: Mozilla's CA set as Debian's ca-certificates package ships it: what an image that
#: installs ca-certificates trusts.
MOZILLA_CA_DIR: Final = Path("/usr/share/ca-certificates/mozilla")
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)
_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class DoctorCheck:
    """One thing checked: ``status`` is ok, missing, warning or info."""

    name: str
    feature: str
    status: str
    detail: str
    fix: str | None = None
    required: bool = False

    @property
    def failed(self) -> bool:
        return self.required and self.status == MISSING

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorReport:
    """Every check, in the order they ran."""

    checks: tuple[DoctorCheck, ...]
    config_source: Path | None = None

    @property
    def ok(self) -> bool:
        return not any(check.failed for check in self.checks)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "configuration": str(self.config_source) if self.config_source else None,
            "checks": [check.to_json() for check in self.checks],
        }

    def to_text(self) -> str:
        """One line per check: status, name, what was found; the fix indented below."""
        width = max((len(c.name) for c in self.checks), default=0)
        lines = []
        for check in self.checks:
            status = check.status.upper() if check.failed else check.status
            lines.append(f"{status:<8} {check.name:<{width}}  {check.detail}")
            if check.fix and check.status != OK:
                lines.append(f"{'':<8} {'':<{width}}  fix: {check.fix}")
        verdict = (
            "everything the configured features need is here"
            if self.ok
            else "something a feature needs is missing"
        )
        lines.append(f"repro doctor: {verdict}")
        return "\n".join(lines) + "\n"


@dataclass
class _Context:
    config: Config
    runner: Runner
    which: Callable[[str], str | None]
    environ: dict[str, str] = field(default_factory=dict)


def _version_of(ctx: _Context, argv: Sequence[str]) -> str | None:
    try:
        completed = ctx.runner(list(argv), timeout=30)
    except Error:
        return None
    match = _VERSION.search(completed.stdout.decode("utf-8", "replace"))
    return match.group(1) if match else None


def _config_check(config: Config) -> DoctorCheck:
    if config.source is None:
        return DoctorCheck(
            "configuration",
            "all",
            INFO,
            "none found (defaults): no repro.toml or [tool.repro] from here up to the repository root",
            fix="create repro.toml next to the Dockerfile (see README 'Configuration'), or --config FILE",
        )
    return DoctorCheck("configuration", "all", OK, str(config.source))


def _buildah_check(ctx: _Context) -> DoctorCheck:
    fix = "apt-get install buildah (Debian/Ubuntu), dnf install buildah (Fedora)"
    if ctx.which("buildah") is None:
        return DoctorCheck("buildah", "build, verify, release", MISSING, "not found on PATH", fix, True)
    from repro.build.buildah import BuildahEngine

    engine = BuildahEngine(runner=ctx.runner)
    try:
        capabilities = engine.capabilities()
    except Error as exc:
        return DoctorCheck("buildah", "build, verify, release", MISSING, f"cannot be run: {exc}", fix, True)
    supported = ", ".join(name.replace("_", "-") for name in capabilities.supported()) or "none"
    return DoctorCheck(
        "buildah",
        "build, verify, release",
        OK,
        f"{capabilities.engine}; Dockerfile features: {supported}",
        required=True,
    )


def _docker_check(ctx: _Context) -> DoctorCheck:
    # Debian's docker.io client (20.10) builds with BuildKit without a buildx plugin; a
    # newer client earlier on PATH may not, so /usr/bin/docker is preferred when present.
    program = "/usr/bin/docker" if Path("/usr/bin/docker").is_file() else ctx.which("docker")
    if program is None:
        return DoctorCheck(
            "docker",
            "docker engine (optional)",
            INFO,
            "not installed",
            "apt-get install docker.io (optional)",
        )
    client = _version_of(ctx, [program, "--version"])
    try:
        completed = ctx.runner([program, "version", "--format", "{{.Server.Version}}"], timeout=30)
        server = completed.stdout.decode("utf-8", "replace").strip()
    except Error:
        server = ""
    if not server:
        where = ctx.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return DoctorCheck(
            "docker",
            "docker engine (optional)",
            WARNING,
            f"client {client or '?'} ({program}); no Engine answers at {where}",
            "start dockerd, or point DOCKER_HOST at a running Engine",
        )
    return DoctorCheck(
        "docker", "docker engine (optional)", OK, f"client {client or '?'} ({program}), Engine {server}"
    )


def _skopeo_check(ctx: _Context) -> DoctorCheck:
    if ctx.which("skopeo") is None:
        return DoctorCheck(
            "skopeo",
            "copying images by hand (optional)",
            INFO,
            "not installed; repro itself does not need it",
            "apt-get install skopeo",
        )
    version = _version_of(ctx, ["skopeo", "--version"])
    return DoctorCheck("skopeo", "copying images by hand (optional)", OK, f"skopeo {version or '?'}")


def _platform_checks(platforms: Sequence[Platform], binfmt_dir: Path) -> list[DoctorCheck]:
    host = Platform.host()
    mounted, entries = binfmt_entries(binfmt_dir)
    wanted = list(platforms)
    required = bool(platforms)
    if not wanted:  # nothing asked: say what this machine could build, for information
        wanted = [Platform.parse(p) for p in ("linux/amd64", "linux/arm64")]
    fix_install = (
        "apt-get install qemu-user-static binfmt-support; mount -t binfmt_misc binfmt_misc "
        f"{binfmt_dir}; update-binfmts --enable"
    )
    checks = []
    for platform in wanted:
        name = f"platform {platform}"
        if platform.os == host.os and platform.architecture == host.architecture:
            checks.append(DoctorCheck(name, "multi-platform builds", OK, "native", required=required))
            continue
        qemu = QEMU_NAMES.get(platform.architecture)
        status = MISSING if required else INFO
        if qemu is None:
            checks.append(
                DoctorCheck(
                    name,
                    "multi-platform builds",
                    status,
                    "no known emulator for this architecture",
                    None,
                    required,
                )
            )
        elif not mounted:
            checks.append(
                DoctorCheck(
                    name,
                    "multi-platform builds",
                    status,
                    f"binfmt_misc is not mounted at {binfmt_dir}",
                    fix_install,
                    required,
                )
            )
        elif qemu not in entries:
            checks.append(
                DoctorCheck(
                    name, "multi-platform builds", status, f"no {qemu} binfmt entry", fix_install, required
                )
            )
        elif not entries[qemu]:
            checks.append(
                DoctorCheck(
                    name,
                    "multi-platform builds",
                    status,
                    f"{qemu} is registered but disabled",
                    f"update-binfmts --enable {qemu}",
                    required,
                )
            )
        else:
            checks.append(
                DoctorCheck(name, "multi-platform builds", OK, f"emulated by {qemu}", required=required)
            )
    return checks


def _registry_hosts(config: Config) -> list[str]:
    """Configured registries and their mirrors' hosts, each once, in configuration order."""
    from repro.registry.mirrors import parse_mirror

    hosts: list[str] = []
    for host, settings in config.registries.items():
        hosts.append(host)
        hosts += [parse_mirror(entry)[0] for entry in settings.mirrors]
    return list(dict.fromkeys(hosts))


def _registry_check(ctx: _Context, host: str) -> DoctorCheck:
    """GET /v2/ with the settings repro would use (scheme, CA, timeout); 200 or 401 is alive."""
    from repro.errors import RegistryError
    from repro.registry.transport import Transport

    settings = ctx.config.registry(host)
    how = "plain http (insecure)" if settings.insecure else "https"
    if settings.ca_file is not None:
        how += f", CA {settings.ca_file}"
    name = f"registry {host}"
    if settings.ca_file is not None and not settings.ca_file.is_file():
        return DoctorCheck(
            name,
            "pull, push",
            MISSING,
            f"ca_file {settings.ca_file} does not exist",
            "fix ca_file in the configuration",
            True,
        )
    transport = Transport(ctx.config)
    try:
        response = transport.send(host, "GET", transport.url(host, "/v2/"))
        response.close()
    except RegistryError as exc:
        return DoctorCheck(name, "pull, push", MISSING, f"{how}: {exc}", exc.hint or None, True)
    finally:
        transport.close()
    if response.status_code in (200, 401):
        auth = " (asks for credentials)" if response.status_code == 401 else ""
        return DoctorCheck(name, "pull, push", OK, f"answers over {how}{auth}", required=True)
    return DoctorCheck(
        name,
        "pull, push",
        MISSING,
        f"{how}: /v2/ answered status {response.status_code}: not an OCI registry API there",
        "check the host, port and (for a mirror) the prefix",
        True,
    )


def _credentials_check(ctx: _Context, hosts: Iterable[str]) -> list[DoctorCheck]:
    from repro.registry.credentials import CredentialStore

    store = CredentialStore(runner=ctx.runner, environ=ctx.environ)
    checks = []
    for host in hosts:
        name = f"credentials {host}"
        try:
            credential = store.get(host)
        except Error as exc:
            checks.append(DoctorCheck(name, "pull, push", MISSING, str(exc), exc.hint or None, True))
            continue
        if credential is None:
            checks.append(
                DoctorCheck(
                    name,
                    "push (pull of private images)",
                    INFO,
                    f"none in {store.config_path} (anonymous)",
                    f"docker login {host}, or DOCKER_CONFIG pointing at a config.json with credentials",
                )
            )
        else:
            # Where they come from, never what they are.
            checks.append(
                DoctorCheck(name, "push (pull of private images)", OK, f"found ({store.config_path})")
            )
    return checks


def _key_check(key: Path) -> DoctorCheck:
    name = "signing key"
    try:
        head = key.read_bytes()[:64]
    except OSError as exc:
        return DoctorCheck(
            name,
            "sign (release --sign key)",
            MISSING,
            f"{key}: cannot read: {exc.strerror}",
            "repro keygen PREFIX",
            True,
        )
    if not head.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"):
        return DoctorCheck(
            name,
            "sign (release --sign key)",
            MISSING,
            f"{key}: not an encrypted PEM private key",
            "give the private key 'repro keygen' wrote (its .pub is the public half)",
            True,
        )
    public = key.with_suffix(".pub")  # repro keygen writes PREFIX.key and PREFIX.pub
    detail = f"{key}: encrypted private key" + (f"; public half {public}" if public.is_file() else "")
    fix = None
    status = OK
    if "REPRO_KEY_PASSWORD" not in os.environ:
        status, fix = WARNING, "set REPRO_KEY_PASSWORD for non-interactive signing (CI)"
        detail += "; REPRO_KEY_PASSWORD is not set (asked on a terminal)"
    return DoctorCheck(name, "sign (release --sign key)", status, detail, fix, True)


def _certificates(data: bytes) -> dict[bytes, bytes]:
    """The certificates of a PEM bundle, by the sha256 of their DER bytes."""
    found = {}
    for match in _PEM_CERT.finditer(data):
        try:
            der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
        except binascii.Error:
            continue
        found[hashlib.sha256(der).digest()] = der
    return found


def _subject(der: bytes) -> str:
    from cryptography import x509  # only when a CA outside Mozilla's set is named

    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return f"sha256:{hashlib.sha256(der).hexdigest()[:16]}"


def _mozilla_set(mozilla_dir: Path) -> tuple[dict[bytes, bytes], str] | None:
    """Mozilla's CA set, from Debian's ca-certificates, else from certifi; None without either."""
    files = sorted(mozilla_dir.glob("*.crt")) if mozilla_dir.is_dir() else []
    if files:
        found: dict[bytes, bytes] = {}
        for path in files:
            found.update(_certificates(path.read_bytes()))
        return found, str(mozilla_dir)
    try:
        import certifi
    except ImportError:
        return None
    where = Path(certifi.where())
    return _certificates(where.read_bytes()), str(where)


def _ca_bundle_check(ctx: _Context, system_bundle: Path, mozilla_dir: Path) -> DoctorCheck:
    """Whether RUN steps that fetch over TLS (pip, npm, curl) need ``--ca-bundle``: they do
    when this machine trusts a CA that Mozilla's set (an image's ca-certificates) lacks, as
    behind a proxy that intercepts TLS."""
    name, feature = "CA bundle", "TLS in RUN steps (pip, npm, curl)"
    bundle = Path(ctx.environ.get("SSL_CERT_FILE") or system_bundle)
    configured = ctx.config.ca_bundle
    try:
        host = _certificates(bundle.read_bytes())
    except OSError:
        return DoctorCheck(name, feature, INFO, f"no trust store at {bundle} to compare")
    mozilla = _mozilla_set(mozilla_dir)
    if mozilla is None:
        return DoctorCheck(
            name, feature, INFO, f"no copy of Mozilla's CA set ({mozilla_dir}, certifi) to compare"
        )
    known, source = mozilla
    extra = [der for digest, der in host.items() if digest not in known]
    if not extra:
        return DoctorCheck(
            name, feature, OK, f"{bundle} trusts only CAs of Mozilla's set ({source}), as an image would"
        )
    shown = "; ".join(_subject(der) for der in extra[:3]) + (
        f" (+{len(extra) - 3} more)" if len(extra) > 3 else ""
    )
    detail = (
        f"{bundle} trusts {len(extra)} CA(s) outside Mozilla's set ({source}), which an image's "
        f"ca-certificates lacks: {shown}"
    )
    if configured is not None:
        return DoctorCheck(name, feature, OK, f"{detail}; builds get {configured} (ca_bundle)")
    return DoctorCheck(
        name,
        feature,
        WARNING,
        f"{detail}; RUN steps that fetch over TLS (pip, npm) fail to verify where a proxy signs with one of them",
        f"build with --ca-bundle {bundle} (or ca_bundle in the configuration)",
    )


def run_doctor(
    config: Config,
    *,
    platforms: Sequence[Platform] = (),
    key: Path | None = None,
    check_registries: bool = True,
    runner: Runner = run,
    which: Callable[[str], str | None] = shutil.which,
    binfmt_dir: Path = BINFMT_DIR,
    environ: dict[str, str] | None = None,
    system_bundle: Path = SYSTEM_CA_BUNDLE,
    mozilla_dir: Path = MOZILLA_CA_DIR,
) -> DoctorReport:
    """Check what each feature needs (see the module documentation).

    ``platforms``: the platforms the user builds (their emulators become required);
    ``key``: the signing key to check; ``check_registries``: contact each configured
    registry and mirror (GET /v2/). Credentials are looked up for each either way.
    The CA bundle check compares ``system_bundle`` (or ``$SSL_CERT_FILE``) with Mozilla's
    set in ``mozilla_dir`` (else certifi's).
    """
    ctx = _Context(
        config=config, runner=runner, which=which, environ=dict(os.environ if environ is None else environ)
    )
    checks = [_config_check(config), _buildah_check(ctx), _docker_check(ctx), _skopeo_check(ctx)]
    checks += _platform_checks(platforms, binfmt_dir)
    checks.append(_ca_bundle_check(ctx, system_bundle, mozilla_dir))
    hosts = _registry_hosts(config)
    if check_registries:
        checks += [_registry_check(ctx, host) for host in hosts]
    elif hosts:
        checks.append(
            DoctorCheck("registries", "pull, push", INFO, f"not contacted (--offline): {', '.join(hosts)}")
        )
    checks += _credentials_check(ctx, hosts)
    if key is not None:
        checks.append(_key_check(key))
    return DoctorReport(checks=tuple(checks), config_source=config.source)
