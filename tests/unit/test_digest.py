from __future__ import annotations

import io
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repro.digest import Digest, DigestWriter, verify
from repro.errors import DigestMismatchError, ReferenceFormatError, RegistryError, UsageError

# FIPS 180-2 known answers.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
EMPTY_SHA512 = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)
ABC_SHA512 = (
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
)


@pytest.mark.parametrize(
    ("data", "algorithm", "expected"),
    [
        (b"", "sha256", EMPTY_SHA256),
        (b"abc", "sha256", ABC_SHA256),
        (b"", "sha512", EMPTY_SHA512),
        (b"abc", "sha512", ABC_SHA512),
    ],
)
def test_known_answers(data: bytes, algorithm: str, expected: str) -> None:
    digest = Digest.of(data, algorithm)
    assert digest == Digest(algorithm, expected)
    assert str(digest) == f"{algorithm}:{expected}"
    assert digest.short == expected[:12]


def test_sha256_is_the_default() -> None:
    assert str(Digest.of(b"")) == f"sha256:{EMPTY_SHA256}"


@pytest.mark.parametrize("text", [f"sha256:{EMPTY_SHA256}", f"sha512:{ABC_SHA512}"])
def test_parse_round_trips(text: str) -> None:
    assert str(Digest.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid checksum digest format"),
        ("sha256", "invalid checksum digest format"),
        ("sha256:", "invalid checksum digest format"),
        (f":{EMPTY_SHA256}", "invalid checksum digest format"),
        (EMPTY_SHA256, "invalid checksum digest format"),
        (f"sha256:{EMPTY_SHA256[:-1]}", "invalid checksum digest length"),
        (f"sha256:{EMPTY_SHA256}0", "invalid checksum digest length"),
        (f"sha256:{EMPTY_SHA256.upper()}", "invalid checksum digest format"),
        (f"sha256:{'g' * 64}", "invalid checksum digest format"),
        (f"sha512:{EMPTY_SHA256}", "invalid checksum digest length"),
        (f"md5:{'0' * 32}", "unsupported digest algorithm"),
        (f"sha384:{'0' * 96}", "unsupported digest algorithm"),
        (f"SHA256:{EMPTY_SHA256}", "invalid checksum digest format"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(ReferenceFormatError, match=message) as info:
        Digest.parse(text)
    assert isinstance(info.value, UsageError)
    assert repr(text) in str(info.value)


def test_constructor_validates_too() -> None:
    with pytest.raises(ReferenceFormatError, match="length"):
        Digest("sha256", "abc")


def test_digest_is_a_hashable_value() -> None:
    assert len({Digest.of(b""), Digest.parse(f"sha256:{EMPTY_SHA256}")}) == 1


def test_streaming_hasher_counts_and_hashes() -> None:
    hasher = Digest.hasher()
    assert isinstance(hasher, DigestWriter)
    for chunk in (b"a", b"", b"bc"):
        hasher.update(chunk)
    assert hasher.size == 3
    assert hasher.digest() == Digest("sha256", ABC_SHA256)
    hasher.verify(Digest("sha256", ABC_SHA256))


def test_streaming_hasher_is_a_writable_file() -> None:
    hasher = Digest.hasher("sha512")
    shutil.copyfileobj(io.BytesIO(b"abc" * 100_000), hasher, length=4096)
    assert hasher.size == 300_000
    assert hasher.digest() == Digest.of(b"abc" * 100_000, "sha512")


def test_hasher_rejects_unknown_algorithm() -> None:
    with pytest.raises(ReferenceFormatError, match="unsupported digest algorithm 'md5'"):
        Digest.hasher("md5")


def test_verify_accepts_matching_bytes() -> None:
    verify(Digest("sha256", ABC_SHA256), b"abc")
    verify(Digest("sha512", ABC_SHA512), b"abc")


def test_verify_names_both_digests_on_mismatch() -> None:
    expected = Digest("sha256", ABC_SHA256)
    with pytest.raises(DigestMismatchError) as info:
        verify(expected, b"abd")
    message = str(info.value)
    assert f"expected sha256:{ABC_SHA256}" in message
    assert f"got {Digest.of(b'abd')}" in message
    assert isinstance(info.value, RegistryError)


def test_writer_verify_raises_on_mismatch() -> None:
    hasher = Digest.hasher()
    hasher.update(b"x")
    with pytest.raises(DigestMismatchError, match=EMPTY_SHA256):
        hasher.verify(Digest("sha256", EMPTY_SHA256))


@given(st.lists(st.binary(max_size=64), max_size=8))
def test_streaming_equals_one_shot(chunks: list[bytes]) -> None:
    hasher = Digest.hasher()
    for chunk in chunks:
        hasher.update(chunk)
    whole = b"".join(chunks)
    assert hasher.digest() == Digest.of(whole)
    assert hasher.size == len(whole)
    assert Digest.parse(str(hasher.digest())) == hasher.digest()
