"""Real Distribution registries (``docker-registry serve``) on loopback for integration tests.

Three flavours, each a :class:`RunningRegistry`:

- :func:`start_plain_registry`: plain http, no authentication;
- :func:`start_tls_registry`: https with a CA made here, htpasswd (bcrypt) basic auth;
- :func:`start_token_registry`: Docker token auth against a
  :class:`~devtools.testbed.tokenserver.TokenServer` run in this process.

    >>> reg = start_plain_registry(tmp_dir)          # doctest: +SKIP
    >>> requests.get(f"{reg.url}/v2/").status_code    # doctest: +SKIP
    200
    >>> reg.stop()                                    # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devtools.testbed.tokenserver import TokenServer
from repro.process import run

REGISTRY_PROGRAM = "docker-registry"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 30

Flavour = Literal["plain", "tls", "token"]
FLAVOURS: tuple[Flavour, ...] = ("plain", "tls", "token")


class TestbedError(RuntimeError):
    """A test-bed program could not be started or did not behave."""

    __test__ = False  # not a test class, despite the name


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


# -- certificates --------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA and one server certificate for 127.0.0.1 and localhost, as PEM files."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    cert_dir: Path  # holds only ca.crt: the form skopeo/buildah/containers expect


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_certificate_authority(directory: Path) -> CertificateAuthority:
    """Generate a fresh CA and a server certificate with SANs 127.0.0.1 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("repro test CA"))
        .issuer_name(_name("repro test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_file = directory / "ca.crt"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file = directory / "server.crt"
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "server.key"
    _write_key(key_file, server_key)
    cert_dir = directory / "certs.d"
    cert_dir.mkdir(exist_ok=True)
    (cert_dir / "ca.crt").write_bytes(ca_file.read_bytes())
    return CertificateAuthority(ca_file=ca_file, cert_file=cert_file, key_file=key_file, cert_dir=cert_dir)


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """Write a bcrypt htpasswd file (the only hash Distribution accepts) with ``htpasswd -B``."""
    lines = []
    for user, password in users.items():
        out = run(["htpasswd", "-Bbn", user, password]).stdout.decode().strip()
        lines.append(out)
    path.write_text("\n".join(lines) + "\n")


# -- the registry process -------------------------------------------------------------------


@dataclass
class RunningRegistry:
    """A ``docker-registry serve`` process on 127.0.0.1, its files and its credentials.

    ``host`` is ``127.0.0.1:PORT`` (what goes in an image reference), ``url`` is
    ``http://HOST`` or ``https://HOST``. ``stop()`` and ``kill()`` end the process;
    ``restart()`` starts it again on the same port with the same storage.
    """

    flavour: Flavour
    host: str
    url: str
    port: int
    workdir: Path
    storage_dir: Path
    config_file: Path
    log_file: Path
    ca_file: Path | None = None  # TLS flavour: the CA that signed the server certificate
    cert_dir: Path | None = None  # TLS flavour: a directory with ca.crt, for skopeo --cert-dir
    username: str | None = None  # auth flavours: a user allowed to pull and push everything
    password: str | None = None
    token_server: TokenServer | None = None  # token flavour
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.ca_file is not None

    @property
    def verify(self) -> str | bool:
        """The ``verify=`` argument for ``requests``: the CA file, or True for plain http."""
        return str(self.ca_file) if self.ca_file is not None else True

    @property
    def auth(self) -> tuple[str, str] | None:
        """``(username, password)`` for the auth flavours, else None."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def skopeo_args(self, role: Literal["", "src", "dest"] = "") -> list[str]:
        """TLS and credential flags for skopeo: ``role`` is "" (inspect), "src" or "dest"."""
        prefix = f"--{role}-" if role else "--"
        args = []
        if self.cert_dir is not None:
            args += [f"{prefix}cert-dir", str(self.cert_dir)]
        else:
            args.append(f"{prefix}tls-verify=false")
        if self.username is not None and self.password is not None:
            args += [f"{prefix}creds", f"{self.username}:{self.password}"]
        return args

    def start(self) -> None:
        """Start the process (if not running) and wait until ``/v2/`` answers."""
        if self.is_running():
            return
        with self.log_file.open("ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')} ---\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                [REGISTRY_PROGRAM, "serve", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                self._process = None
                raise TestbedError(
                    f"{REGISTRY_PROGRAM} exited with code {code} during start-up on {self.host}; "
                    f"log {self.log_file}:\n{_tail(self.log_file)}"
                )
            try:
                response = requests.get(f"{self.url}/v2/", verify=self.verify, timeout=1.0)
            except requests.RequestException as exc:
                last_error = str(exc)
            else:
                if response.status_code in (200, 401):
                    return
                last_error = f"HTTP {response.status_code}"
            time.sleep(0.05)
        self.kill()
        raise TestbedError(
            f"{REGISTRY_PROGRAM} on {self.host} did not answer /v2/ within {START_TIMEOUT} s "
            f"({last_error}); log {self.log_file}:\n{_tail(self.log_file)}"
        )

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after a grace period). Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """End the process abruptly with SIGKILL, as a crash would. Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL)
        process.wait()

    def restart(self) -> None:
        """Stop (if running) and start again on the same port, config and storage."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the registry and its token server."""
        self.stop()
        if self.token_server is not None:
            self.token_server.stop()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _tail(self.log_file, lines)

    def __enter__(self) -> RunningRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _config(
    port: int,
    storage_dir: Path,
    *,
    tls: CertificateAuthority | None,
    auth: dict[str, object] | None,
) -> dict[str, object]:
    http: dict[str, object] = {
        "addr": f"127.0.0.1:{port}",
        "secret": secrets.token_hex(16),
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if tls is not None:
        http["tls"] = {"certificate": str(tls.cert_file), "key": str(tls.key_file)}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        # No blob descriptor cache: with deletes enabled an in-memory cache can answer
        # "exists" for a deleted blob, which is not what a real registry must do.
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
        "health": {"storagedriver": {"enabled": False}},
    }
    if auth is not None:
        config["auth"] = auth
    return config


def _launch(
    flavour: Flavour,
    workdir: Path,
    *,
    tls: CertificateAuthority | None = None,
    auth: dict[str, object] | None = None,
    username: str | None = None,
    password: str | None = None,
    token_server: TokenServer | None = None,
    attempts: int = 3,
) -> RunningRegistry:
    storage_dir = workdir / "storage"
    storage_dir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "config.yml"
    error: TestbedError | None = None
    # The port is free when chosen but another process may take it before the registry
    # binds it; choose again in that case.
    for _ in range(attempts):
        port = free_port()
        # YAML is a superset of JSON, so the config is written as JSON.
        config_file.write_text(json.dumps(_config(port, storage_dir, tls=tls, auth=auth), indent=2))
        registry = RunningRegistry(
            flavour=flavour,
            host=f"127.0.0.1:{port}",
            url=f"{'https' if tls else 'http'}://127.0.0.1:{port}",
            port=port,
            workdir=workdir,
            storage_dir=storage_dir,
            config_file=config_file,
            log_file=workdir / "registry.log",
            ca_file=tls.ca_file if tls else None,
            cert_dir=tls.cert_dir if tls else None,
            username=username,
            password=password,
            token_server=token_server,
        )
        try:
            registry.start()
        except TestbedError as exc:
            if "address already in use" not in str(exc):
                raise
            error = exc
        else:
            return registry
    assert error is not None
    raise error


def start_plain_registry(workdir: Path) -> RunningRegistry:
    """A registry on plain http without authentication."""
    workdir.mkdir(parents=True, exist_ok=True)
    return _launch("plain", workdir)


def start_tls_registry(
    workdir: Path, *, username: str = "testuser", password: str | None = None
) -> RunningRegistry:
    """A registry on https (certificate from a CA made here) with htpasswd basic auth."""
    workdir.mkdir(parents=True, exist_ok=True)
    password = password if password is not None else secrets.token_urlsafe(12)
    ca = make_certificate_authority(workdir / "tls")
    htpasswd = workdir / "htpasswd"
    write_htpasswd(htpasswd, {username: password})
    auth: dict[str, object] = {"htpasswd": {"realm": "repro-testbed", "path": str(htpasswd)}}
    return _launch("tls", workdir, tls=ca, auth=auth, username=username, password=password)


def start_token_registry(
    workdir: Path,
    *,
    username: str = "testuser",
    password: str | None = None,
    tls: bool = False,
) -> RunningRegistry:
    """A registry with Docker token auth against a token server run in this process.

    ``username`` may pull, push and delete in every repository and list the catalog;
    add more users with ``registry.token_server.add_user(...)``. The registry speaks
    plain http unless ``tls`` is true.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    password = password if password is not None else secrets.token_urlsafe(12)
    token_server = TokenServer.start(workdir / "tokenserver")
    token_server.add_user(username, password, {"*": ("pull", "push", "delete")}, catalog=True)
    ca = make_certificate_authority(workdir / "tls") if tls else None
    auth: dict[str, object] = {
        "token": {
            "realm": token_server.realm,
            "service": token_server.service,
            "issuer": token_server.issuer,
            "rootcertbundle": str(token_server.cert_file),
        }
    }
    try:
        return _launch(
            "token",
            workdir,
            tls=ca,
            auth=auth,
            username=username,
            password=password,
            token_server=token_server,
        )
    except BaseException:
        token_server.stop()
        raise


class RegistryFactory(Protocol):
    """Starts a registry of one flavour (the ``registry_factory`` fixture)."""

    def __call__(self, flavour: Flavour = "plain") -> RunningRegistry: ...


def start_registry(workdir: Path, flavour: Flavour = "plain") -> RunningRegistry:
    """Start a registry of the given flavour ("plain", "tls" or "token")."""
    if flavour == "plain":
        return start_plain_registry(workdir)
    if flavour == "tls":
        return start_tls_registry(workdir)
    if flavour == "token":
        return start_token_registry(workdir)
    raise ValueError(f"unknown registry flavour {flavour!r}; choose one of {', '.join(FLAVOURS)}")
