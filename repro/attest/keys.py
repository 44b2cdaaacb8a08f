"""Signing keys for key-based signing: ECDSA P-256 key pairs, the private key always
encrypted with a passphrase.

The passphrase comes from ``REPRO_KEY_PASSWORD`` or, on a terminal, a prompt. A key's
*hint* is what a Sigstore bundle names it by: ``base64(sha256(DER SubjectPublicKeyInfo))``.

    >>> key = generate_key()
    >>> len(key_hint(key.public_key()))
    44
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from repro.errors import AttestationError

PASSWORD_ENV: Final = "REPRO_KEY_PASSWORD"  # noqa: S105 (a variable name)
DEFAULT_PREFIX: Final = "repro"
PRIVATE_SUFFIX: Final = ".key"
PUBLIC_SUFFIX: Final = ".pub"
_ENCRYPTED_PEM: Final = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"

PasswordSource = Callable[[], bytes]


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def public_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_hint(key: ec.EllipticCurvePublicKey) -> str:
    """``base64(sha256(DER SPKI))``: how a bundle's ``publicKey.hint`` names the key."""
    return base64.b64encode(hashlib.sha256(public_der(key)).digest()).decode()


def read_password(
    *,
    confirm: bool = False,
    env: Mapping[str, str] | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
    interactive: bool | None = None,
) -> bytes:
    """The key passphrase: ``REPRO_KEY_PASSWORD``, else asked on the terminal.

    An empty passphrase is refused: a private key is never written or read unencrypted.
    """
    env = os.environ if env is None else env
    if PASSWORD_ENV in env:
        password = env[PASSWORD_ENV]
    else:
        if interactive is None:
            interactive = sys.stdin.isatty()
        if not interactive:
            raise AttestationError(
                "no key passphrase: set REPRO_KEY_PASSWORD, or run on a terminal to be asked"
            )
        password = prompt("Passphrase for the private key: ")
        if confirm and prompt("Passphrase again: ") != password:
            raise AttestationError("the two passphrases differ; nothing was written")
    if not password:
        raise AttestationError(
            "empty key passphrase refused", hint="private keys are always encrypted; choose a passphrase"
        )
    return password.encode()


@dataclass(frozen=True)
class KeyPair:
    """Where :func:`write_keypair` wrote a key pair, and the public key's hint."""

    private_key: Path
    public_key: Path
    hint: str

    def to_json(self) -> dict[str, str]:
        return {"private_key": str(self.private_key), "public_key": str(self.public_key), "hint": self.hint}


def keypair_paths(prefix: str | Path) -> tuple[Path, Path]:
    base = str(prefix)
    return Path(base + PRIVATE_SUFFIX), Path(base + PUBLIC_SUFFIX)


def write_keypair(
    prefix: str | Path, password: bytes, *, key: ec.EllipticCurvePrivateKey | None = None
) -> KeyPair:
    """Write ``PREFIX.key`` (encrypted PKCS#8 PEM, mode 0600) and ``PREFIX.pub`` (PEM).

    Refuses to overwrite either file; on failure nothing is left behind.
    """
    if not password:
        raise AttestationError("empty key passphrase refused")
    private_path, public_path = keypair_paths(prefix)
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise AttestationError(
                f"{path} exists; refusing to overwrite it", hint="choose another PREFIX or move the old keys"
            )
    key = key or generate_key()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    written: list[Path] = []
    try:
        for path, data, mode in (
            (private_path, private_pem, 0o600),
            (public_path, public_pem(key.public_key()), 0o644),
        ):
            _create_exclusive(path, data, mode)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return KeyPair(private_path, public_path, key_hint(key.public_key()))


def _create_exclusive(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise AttestationError(f"{path} exists; refusing to overwrite it") from exc
    except OSError as exc:
        raise AttestationError(f"{path}: cannot create: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def load_private_key(path: Path, password: bytes | PasswordSource) -> ec.EllipticCurvePrivateKey:
    """Load an encrypted ECDSA P-256 private key; an unencrypted key is refused."""
    data = _read(path)
    if _ENCRYPTED_PEM not in data:
        raise AttestationError(
            f"{path}: not an encrypted PKCS#8 private key",
            hint="create keys with 'repro keygen'; unencrypted private keys are refused",
        )
    secret = password() if callable(password) else password
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except ValueError as exc:
        raise AttestationError(f"{path}: wrong passphrase, or a damaged key file") from exc
    except TypeError as exc:
        raise AttestationError(f"{path}: cannot load the private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise AttestationError(f"{path}: only ECDSA P-256 keys are supported")
    return key


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    """Load a PEM (or DER) ECDSA P-256 public key."""
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError) as exc:
        raise AttestationError(f"{path}: not a public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise AttestationError(f"{path}: only ECDSA P-256 public keys are supported")
    return key


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AttestationError(f"{path}: cannot read: {exc.strerror}") from exc
