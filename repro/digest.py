"""Content digests (``sha256:…``) as the OCI image and distribution specs define them.

>>> d = Digest.of(b"")
>>> str(d)
'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
>>> d.short
'e3b0c44298fc'
>>> Digest.parse(str(d)) == d
True
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from repro.errors import DigestMismatchError, ReferenceFormatError

# Algorithm name -> length of its lower-case hex encoding. Only the algorithms the OCI
# image spec registers for content addressing are accepted.
_HEX_LENGTHS: Final[dict[str, int]] = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")
# The algorithm part of the distribution grammar; anything else is "invalid format"
# rather than "unsupported algorithm".
_ALGORITHM = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*")

SHORT_LENGTH: Final = 12


def _check(algorithm: str, hex_: str, text: str) -> None:
    expected = _HEX_LENGTHS.get(algorithm)
    if expected is None:
        if _ALGORITHM.fullmatch(algorithm) is None:
            raise ReferenceFormatError(f"invalid checksum digest format: {text!r}")
        raise ReferenceFormatError(
            f"unsupported digest algorithm {algorithm!r} in {text!r} (supported: sha256, sha512)"
        )
    if len(hex_) != expected:
        raise ReferenceFormatError(
            f"invalid checksum digest length: {text!r} ({algorithm} needs {expected} hex digits)"
        )
    if _HEX.fullmatch(hex_) is None:
        raise ReferenceFormatError(f"invalid checksum digest format: {text!r} (needs lower-case hex)")


@dataclass(frozen=True)
class Digest:
    """A validated content digest: an algorithm and the lower-case hex of the hash."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        _check(self.algorithm, self.hex, f"{self.algorithm}:{self.hex}")

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``ALGORITHM:HEX``; raise :class:`ReferenceFormatError` if it is not one."""
        algorithm, sep, hex_ = text.partition(":")
        if not sep or not algorithm or not hex_:
            raise ReferenceFormatError(f"invalid checksum digest format: {text!r}")
        _check(algorithm, hex_, text)
        return cls(algorithm, hex_)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        hasher = cls.hasher(algorithm)
        hasher.update(data)
        return hasher.digest()

    @staticmethod
    def hasher(algorithm: str = "sha256") -> DigestWriter:
        """A streaming hasher: feed it with ``update``, then ask for ``digest()``."""
        return DigestWriter(algorithm)

    @property
    def short(self) -> str:
        """The first 12 hex digits, for display only."""
        return self.hex[:SHORT_LENGTH]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class DigestWriter:
    """Hashes a stream of bytes and counts them.

    It has ``write`` too, so it can stand in for a binary file (``shutil.copyfileobj``).
    """

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in _HEX_LENGTHS:
            raise ReferenceFormatError(
                f"unsupported digest algorithm {algorithm!r} (supported: sha256, sha512)"
            )
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self._size = 0

    @property
    def size(self) -> int:
        """Number of bytes hashed so far."""
        return self._size

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self._size += len(data)

    def write(self, data: bytes) -> int:
        self.update(data)
        return len(data)

    def digest(self) -> Digest:
        """The digest of everything hashed so far (more may still be fed afterwards)."""
        return Digest(self.algorithm, self._hash.hexdigest())

    def verify(self, expected: Digest) -> None:
        """Raise :class:`DigestMismatchError` unless the bytes hashed have digest ``expected``."""
        _compare(expected, self.digest())


def verify(expected: Digest, data: bytes) -> None:
    """Raise :class:`DigestMismatchError` unless ``data`` hashes to ``expected``."""
    _compare(expected, Digest.of(data, expected.algorithm))


def _compare(expected: Digest, actual: Digest) -> None:
    if actual != expected:
        raise DigestMismatchError(f"digest mismatch: expected {expected}, got {actual}")
