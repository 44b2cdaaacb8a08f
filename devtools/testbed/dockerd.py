"""Docker Engines (``dockerd``) of the test bed, each with its own state, for the docker engine.

:func:`start_docker_daemon` runs one ``dockerd`` with its own ``--data-root``,
``--exec-root``, pidfile and unix socket, ``--iptables=false --bridge=none`` (nothing of the
machine's networking is touched; builds use the host network), and optionally a second
listener on ``tcp://127.0.0.1:PORT`` that requires TLS client certificates made here — a
stand-in for a remote build daemon. Loopback registries are insecure by default for dockerd,
so the test bed's plain registry serves it as is.

    >>> daemon = start_docker_daemon(tmp_dir, tls=True)    # doctest: +SKIP
    >>> daemon.environment(tls=True)["DOCKER_HOST"]        # doctest: +SKIP
    'tcp://127.0.0.1:40123'
    >>> daemon.stop()                                      # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devtools.testbed.registry import TestbedError, free_port

DOCKERD_PROGRAM = "dockerd"
#: The client that builds with the embedded BuildKit (Debian 12's docker.io).
DOCKER_CLIENT = "/usr/bin/docker"
DOCKER_PROGRAMS = (DOCKERD_PROGRAM, "docker")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_daemon_certificates(directory: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, in the file names
    the docker client expects in ``DOCKER_CERT_PATH`` (``ca.pem``, ``cert.pem``, ``key.pem``);
    the server's are ``server-cert.pem`` and ``server-key.pem``. Returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("repro test daemon CA"))
        .issuer_name(_name("repro test daemon CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common_name: str, usage: x509.ObjectIdentifier, san: bool) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_cert, server_key = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, True)
    client_cert, client_key = leaf("repro test client", ExtendedKeyUsageOID.CLIENT_AUTH, False)
    (directory / "server-cert.pem").write_bytes(server_cert)
    (directory / "cert.pem").write_bytes(client_cert)
    for name, key_bytes in (("server-key.pem", server_key), ("key.pem", client_key)):
        path = directory / name
        path.write_bytes(key_bytes)
        path.chmod(0o600)
    return directory


@dataclass
class RunningDockerDaemon:
    """A ``dockerd`` of the test bed: its socket, its optional TLS listener, its files."""

    workdir: Path
    socket: Path
    log_file: Path
    tcp_host: str | None = None  # "tcp://127.0.0.1:PORT" when started with tls=True
    cert_path: Path | None = None  # DOCKER_CERT_PATH for the TLS listener
    socket_dir: Path | None = None  # removed on stop()
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def unix_host(self) -> str:
        return f"unix://{self.socket}"

    def environment(self, *, tls: bool = False) -> dict[str, str]:
        """What a docker client needs to reach this daemon (over TLS with ``tls``)."""
        if not tls:
            return {"DOCKER_HOST": self.unix_host}
        if self.tcp_host is None or self.cert_path is None:
            raise TestbedError("this daemon was started without a TLS listener")
        return {
            "DOCKER_HOST": self.tcp_host,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(self.cert_path),
        }

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; the daemon's containerd goes with it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text("utf-8", "replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log written)"

    def __enter__(self) -> RunningDockerDaemon:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_docker_daemon(workdir: Path, *, tls: bool = False) -> RunningDockerDaemon:
    """Start a ``dockerd`` whose state lives under ``workdir``; wait until it answers."""
    if shutil.which(DOCKERD_PROGRAM) is None:
        raise TestbedError(f"{DOCKERD_PROGRAM} is not installed (Debian: apt-get install docker.io)")
    workdir.mkdir(parents=True, exist_ok=True)
    # A unix socket path must stay short (108 bytes): it goes in a directory of its own under /tmp.
    socket_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"repro-dockerd-{os.getpid()}-{time.monotonic_ns()}"
    socket_dir.mkdir(mode=0o700)
    daemon = RunningDockerDaemon(
        workdir=workdir,
        socket=socket_dir / "docker.sock",
        log_file=workdir / "dockerd.log",
        socket_dir=socket_dir,
    )
    argv = [
        DOCKERD_PROGRAM,
        "--data-root", str(workdir / "data"),
        "--exec-root", str(socket_dir / "exec"),
        "--pidfile", str(workdir / "dockerd.pid"),
        "--host", daemon.unix_host,
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--containerd-namespace", f"repro-{socket_dir.name}",
        "--containerd-plugins-namespace", f"repro-{socket_dir.name}-plugins",
    ]  # fmt: skip
    if tls:
        certs = make_daemon_certificates(workdir / "certs")
        daemon.cert_path = certs
        daemon.tcp_host = f"tcp://127.0.0.1:{free_port()}"
        argv += [
            "--host", daemon.tcp_host,
            "--tlsverify",
            "--tlscacert", str(certs / "ca.pem"),
            "--tlscert", str(certs / "server-cert.pem"),
            "--tlskey", str(certs / "server-key.pem"),
        ]  # fmt: skip
    with daemon.log_file.open("ab") as log:
        daemon._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not daemon.is_running():
            raise TestbedError(f"{DOCKERD_PROGRAM} exited during start-up; log:\n{daemon.log_tail()}")
        probe = subprocess.run(
            [DOCKER_CLIENT, "--host", daemon.unix_host, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            check=False,
            timeout=30,
        )
        if probe.returncode == 0:
            return daemon
        time.sleep(0.25)
    daemon.stop()
    raise TestbedError(
        f"{DOCKERD_PROGRAM} did not answer within {START_TIMEOUT} s; log:\n{daemon.log_tail()}"
    )
