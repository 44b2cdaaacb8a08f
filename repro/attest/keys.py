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
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


# -- the key a release signs with ---------------------------------------------------------------

#: The local signing key made on first use (``release.key``, ``.pub``, ``.password``).
KEY_DIR: Final = Path(".repro")
KEY_PREFIX: Final = "release"
PASSWORD_SUFFIX: Final = ".password"  # noqa: S105 (a file name)
#: Bytes of randomness in a generated key passphrase.
GENERATED_PASSWORD_BYTES: Final = 32


def public_key_path(private_key: Path) -> Path:
    """``NAME.pub`` for ``NAME.key`` (else ``PATH.pub``): where ``repro keygen`` puts it."""
    if private_key.suffix == PRIVATE_SUFFIX:
        return private_key.with_suffix(PUBLIC_SUFFIX)
    return private_key.with_name(private_key.name + PUBLIC_SUFFIX)


@dataclass(frozen=True)
class LocalKey:
    """The key pair that signs when no ``--key`` is given, and how its passphrase is kept."""

    private_key: Path
    public_key: Path
    password: bytes = field(repr=False)
    created: bool
    password_file: Path | None


def local_key(workdir: Path, env: Mapping[str, str] | None = None) -> LocalKey:
    """``workdir/.repro/release.key`` (and ``.pub``), created on first use.

    The private key is always encrypted. Its passphrase is ``REPRO_KEY_PASSWORD`` when that
    is set when the key is made; otherwise a random one is generated and kept in
    ``release.password`` (mode 0600) next to it, so later runs need no prompt. That makes
    the key as safe as the directory it is in: it is a key for trying repro out and for
    local builds; sign real releases with your own key (``--key``) or keyless.
    """
    env = os.environ if env is None else env
    directory = workdir / KEY_DIR
    prefix = directory / KEY_PREFIX
    private_path, public_path = keypair_paths(prefix)
    password_path = directory / f"{KEY_PREFIX}{PASSWORD_SUFFIX}"
    if private_path.exists():
        if password_path.exists():
            return LocalKey(private_path, public_path, _read(password_path).strip(), False, password_path)
        if env.get(PASSWORD_ENV):
            return LocalKey(private_path, public_path, env[PASSWORD_ENV].encode(), False, None)
        raise AttestationError(
            f"{private_path}: no passphrase for the release key",
            hint=f"set {PASSWORD_ENV} to the passphrase it was made with, or remove {directory}",
        )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# repro's local signing key: never commit it\n*\n")
    password_file: Path | None = None
    if env.get(PASSWORD_ENV):
        password = env[PASSWORD_ENV].encode()
    else:
        password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES).encode()
        _create_exclusive(password_path, password + b"\n", 0o600)
        password_file = password_path
    try:
        write_keypair(prefix, password)
    except BaseException:
        if password_file is not None:
            password_file.unlink(missing_ok=True)
        raise
    return LocalKey(private_path, public_path, password, True, password_file)


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key, the public key a consumer will verify with, and what to tell the user."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    public_key: ec.EllipticCurvePublicKey
    notes: tuple[str, ...] = ()


def signing_key(key: Path | None, *, workdir: Path, env: Mapping[str, str] | None = None) -> SigningKey:
    """The private key ``key`` (its passphrase from ``REPRO_KEY_PASSWORD`` or a prompt), or
    without one the :func:`local_key` of ``workdir``; with its public half.

    The public key is ``NAME.pub`` beside the private key (the private key's own public
    half when that file is missing, with a note); one that does not match the private
    key is an :class:`~repro.errors.AttestationError`.
    """
    env = os.environ if env is None else env
    notes: list[str] = []
    if key is not None:
        private_key = load_private_key(key, lambda: read_password(env=env))
        public_path = public_key_path(key)
    else:
        made = local_key(workdir, env)
        private_key = load_private_key(made.private_key, made.password)
        public_path = made.public_key
        if made.created:
            kept = (
                f"its passphrase is in {made.password_file} (mode 0600)"
                if made.password_file is not None
                else f"encrypted with {PASSWORD_ENV}"
            )
            notes.append(
                f"created a local signing key {made.private_key} and {made.public_key}; {kept}. "
                "It is for local releases: sign real ones with --key (repro keygen) or --sign keyless."
            )
    if public_path.exists():
        public = load_public_key(public_path)
    else:
        public = private_key.public_key()
        notes.append(f"{public_path} not found: verifying with the private key's public half")
    if key_hint(public) != key_hint(private_key.public_key()):
        raise AttestationError(
            f"{public_path} is not the public half of the signing key",
            hint="give the matching NAME.key and NAME.pub (repro keygen writes both)",
        )
    return SigningKey(private_key, public, tuple(notes))
