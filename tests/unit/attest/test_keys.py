"""Key pairs: the hint known answer, encryption at rest, passphrases, no overwrite."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from repro.attest import keys
from repro.errors import AttestationError

# The P-256 key whose private scalar is 1 (its public key is the curve's generator).
GENERATOR_KEY = ec.derive_private_key(1, ec.SECP256R1())
GENERATOR_SPKI_HEX = (
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)
GENERATOR_HINT = base64.b64encode(hashlib.sha256(bytes.fromhex(GENERATOR_SPKI_HEX)).digest()).decode()


def test_hint_known_answer() -> None:
    assert keys.public_der(GENERATOR_KEY.public_key()).hex() == GENERATOR_SPKI_HEX
    assert keys.key_hint(GENERATOR_KEY.public_key()) == GENERATOR_HINT
    assert (
        GENERATOR_HINT == "XNJS+wzokyQ2+vjM0QQJgbie5K1rn+niorfnGqyyfNM="
    )  # openssl dgst -sha256 -binary | base64


def test_keygen_writes_an_encrypted_private_key(tmp_path: Path) -> None:
    pair = keys.write_keypair(tmp_path / "signing", b"correct horse")
    assert pair.private_key == tmp_path / "signing.key"
    assert pair.public_key == tmp_path / "signing.pub"
    text = pair.private_key.read_bytes()
    assert text.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(pair.private_key.stat().st_mode) == 0o600
    with pytest.raises(TypeError):  # cryptography itself: a password is needed
        serialization.load_pem_private_key(text, password=None)
    loaded = keys.load_private_key(pair.private_key, b"correct horse")
    public = keys.load_public_key(pair.public_key)
    assert keys.key_hint(loaded.public_key()) == keys.key_hint(public) == pair.hint


def test_wrong_passphrase_is_reported(tmp_path: Path) -> None:
    pair = keys.write_keypair(tmp_path / "k", b"right")
    with pytest.raises(AttestationError, match="wrong passphrase"):
        keys.load_private_key(pair.private_key, b"wrong")


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text("keep me")
    with pytest.raises(AttestationError, match="refusing to overwrite"):
        keys.write_keypair(tmp_path / "k", b"pw")
    assert (tmp_path / "k.pub").read_text() == "keep me"
    assert not (tmp_path / "k.key").exists()


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AttestationError, match="empty"):
        keys.write_keypair(tmp_path / "k", b"")
    with pytest.raises(AttestationError, match="empty"):
        keys.read_password(env={keys.PASSWORD_ENV: ""})


def test_unencrypted_private_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.key"
    path.write_bytes(
        GENERATOR_KEY.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(AttestationError, match="not an encrypted"):
        keys.load_private_key(path, b"anything")


def test_other_curves_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p384.pub"
    path.write_bytes(keys.public_pem(ec.generate_private_key(ec.SECP384R1()).public_key()))
    with pytest.raises(AttestationError, match="P-256"):
        keys.load_public_key(path)


def test_password_from_environment_or_prompt() -> None:
    assert keys.read_password(env={keys.PASSWORD_ENV: "pw"}) == b"pw"
    answers = iter(["typed", "typed"])
    assert (
        keys.read_password(confirm=True, env={}, prompt=lambda _: next(answers), interactive=True) == b"typed"
    )
    answers = iter(["one", "two"])
    with pytest.raises(AttestationError, match="differ"):
        keys.read_password(confirm=True, env={}, prompt=lambda _: next(answers), interactive=True)
    with pytest.raises(AttestationError, match="REPRO_KEY_PASSWORD"):
        keys.read_password(env={}, interactive=False)


# -- the key a release signs with -------------------------------------------------------------


def test_public_key_path_follows_keygen() -> None:
    assert keys.public_key_path(Path("keys/signing.key")) == Path("keys/signing.pub")
    assert keys.public_key_path(Path("keys/signing")) == Path("keys/signing.pub")


# -- the local key ---------------------------------------------------------------------------


def test_local_key_is_made_once_with_a_generated_passphrase(tmp_path: Path) -> None:
    made = keys.local_key(tmp_path, env={})
    assert made.created
    assert made.private_key == tmp_path / ".repro" / "release.key"
    assert made.password_file is not None
    assert stat.S_IMODE(made.password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.private_key.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in made.private_key.read_bytes()
    assert (tmp_path / ".repro" / ".gitignore").read_text().endswith("*\n")
    again = keys.local_key(tmp_path, env={})
    assert not again.created
    assert again.password == made.password


def test_local_key_uses_the_passphrase_variable_and_writes_no_password_file(tmp_path: Path) -> None:
    made = keys.local_key(tmp_path, env={"REPRO_KEY_PASSWORD": "pass phrase"})
    assert made.password == b"pass phrase"
    assert made.password_file is None
    assert not (tmp_path / ".repro" / "release.password").exists()
    with pytest.raises(AttestationError, match="no passphrase"):
        keys.local_key(tmp_path, env={})


def test_signing_key_without_a_key_makes_the_local_one_and_says_so(tmp_path: Path) -> None:
    made = keys.signing_key(None, workdir=tmp_path, env={})
    assert "created a local signing key" in made.notes[0]
    assert keys.key_hint(made.public_key) == keys.key_hint(made.private_key.public_key())
    again = keys.signing_key(None, workdir=tmp_path, env={})
    assert again.notes == ()
    assert keys.key_hint(again.public_key) == keys.key_hint(made.public_key)


def test_signing_key_refuses_a_public_key_of_another_pair(tmp_path: Path) -> None:
    pair = keys.write_keypair(tmp_path / "a", b"pass")
    other = keys.write_keypair(tmp_path / "b", b"pass")
    pair.public_key.write_bytes(other.public_key.read_bytes())
    with pytest.raises(AttestationError, match="not the public half"):
        keys.signing_key(pair.private_key, workdir=tmp_path, env={"REPRO_KEY_PASSWORD": "pass"})


def test_signing_key_without_its_public_file_uses_the_private_half(tmp_path: Path) -> None:
    pair = keys.write_keypair(tmp_path / "a", b"pass")
    pair.public_key.unlink()
    loaded = keys.signing_key(pair.private_key, workdir=tmp_path, env={"REPRO_KEY_PASSWORD": "pass"})
    assert keys.key_hint(loaded.public_key) == pair.hint
    assert "not found" in loaded.notes[0]
