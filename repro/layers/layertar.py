"""Layer tars as streams: decompression, entry kinds, and guards against tars that lie.

Every reader of layer contents (the image differ, the filesystem view) opens layers here,
so each gets the same protection: the blob's digest is checked by the layout, gzip is
decompressed in large chunks, zstd is refused with a hint, and a member that claims more
data than the stream holds is an error at once rather than an endless loop.

This is :mod:`tarfile` with guards, not a parser of its own: its readers (the differ,
the filesystem view, the SBOM) want the archive as tar readers commonly see it. The
strict parser that refuses ambiguous archives and writes the canonical form is
:mod:`repro.layers.tarcanon` (see its docstring for why it cannot be :mod:`tarfile`).

    >>> ENTRY_TYPES[b"0"], ENTRY_TYPES[b"2"]
    ('file', 'symlink')
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, BinaryIO, Final

from repro.errors import ImageError
from repro.oci.layout import ImageLayout, Layer

_CHUNK: Final = 1024 * 1024
_TAR_READ_AHEAD: Final = 32 * 1024
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"

#: tar entry types, by the names repro reports.
ENTRY_TYPES: Final[Mapping[bytes, str]] = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


class ExpansionBudget:
    """How many uncompressed bytes the layers of one image may produce, in all.

    A gzip layer of 1 MB can hold a 1 GiB file of zeros: reading it would cost time and,
    in whichever reader keeps it, memory. The budget is a multiple of the image's
    compressed size (see :class:`repro.config.ScanLimits`).
    """

    def __init__(self, limit: int, ratio: float) -> None:
        self.limit = limit
        self.ratio = ratio
        self.used = 0

    def spend(self, nbytes: int, where: str) -> None:
        self.used += nbytes
        if self.used > self.limit:
            raise ImageError(
                f"{where}: the image's layers expand to more than {self.limit} bytes "
                f"({self.ratio:g} times their compressed size); refusing to read on",
                hint="a layer this compressible is likely a decompression bomb; if the image is "
                "genuine, raise REPRO_MAX_EXPANSION",
            )


class _Measured:
    """Counts (against a budget) and hashes the uncompressed bytes of a layer as they are read."""

    def __init__(
        self, raw: IO[bytes], where: str, budget: ExpansionBudget | None, diff_id: str | None
    ) -> None:
        self._raw = raw
        self._where = where
        self._budget = budget
        self._diff_id = diff_id
        self._hasher = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._budget is not None:
            self._budget.spend(len(data), self._where)
        if self._diff_id is not None:
            self._hasher.update(data)
        return data

    def finish(self) -> None:
        """Read what the tar reader left (padding after the end marker); check the diff_id."""
        if self._diff_id is None:
            return
        while self.read(_CHUNK):
            pass
        actual = "sha256:" + self._hasher.hexdigest()
        if actual != self._diff_id:
            raise ImageError(
                f"{self._where}: uncompressed content is {actual}, but the image config's "
                f"rootfs.diff_ids says {self._diff_id}",
                hint="the config does not describe these layers: the image was altered or built wrong",
            )


@contextmanager
def open_layer_tar(
    layout: ImageLayout,
    layer: Layer,
    *,
    budget: ExpansionBudget | None = None,
    diff_id: str | None = None,
) -> Iterator[tuple[tarfile.TarFile, bool]]:
    """A stream-mode TarFile over ``layer`` and whether the blob was gzip-compressed.

    With ``budget``, the uncompressed bytes count against it; with ``diff_id`` (the image
    config's ``rootfs.diff_ids`` entry), the whole uncompressed stream must hash to it.
    """
    where = f"layer {layer.index} ({layer.digest.short})"
    if layer.descriptor.media_type.endswith("+zstd"):
        raise _zstd_refused(where)
    with layout.open_blob(layer.digest, size=layer.descriptor.size) as blob:
        stream, compressed = decompressed(blob, where)
        measured = None
        if budget is not None or diff_id is not None:
            stream = measured = _Measured(stream, where, budget, diff_id)  # type: ignore[assignment]
        try:
            # tarfile's stream keeps what it read ahead in one bytes object and copies the
            # rest of it on every read (each 512-byte header): a small read-ahead keeps
            # that copying cheap, the 1 MiB decompression steps keep the calls few.
            tar = tarfile.open(fileobj=stream, mode="r|", bufsize=_TAR_READ_AHEAD)  # noqa: SIM115 (closed below)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ImageError(f"{where}: not a tar archive: {exc}") from exc
        with tar:
            yield tar, compressed
        if measured is not None:
            measured.finish()


def _zstd_refused(where: str) -> ImageError:
    return ImageError(
        f"{where}: zstd-compressed layers are not supported yet",
        hint="convert the image to gzip layers (e.g. skopeo copy --dest-compress-format gzip)",
    )


def decompressed(blob: BinaryIO, where: str) -> tuple[IO[bytes], bool]:
    """The uncompressed bytes of a layer blob (plain tar or gzip), and whether it was gzip."""
    head = blob.read(4)
    if head[:2] == b"\x1f\x8b":
        return _EofGuard(_Gunzip(blob, head), where), True  # type: ignore[return-value]
    if head == _ZSTD_MAGIC:
        raise _zstd_refused(where)
    return _EofGuard(_Prefixed(blob, head), where), False  # type: ignore[return-value]


class _Gunzip:
    """A read-only stream of the decompressed bytes of a (possibly multi-member) gzip stream.

    Decompressing in 1 MiB chunks is faster than :mod:`tarfile`'s own 10 KiB reads.
    """

    def __init__(self, raw: BinaryIO, first: bytes) -> None:
        self._raw = raw
        self._pending = first
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._buffer = b""
        self._position = 0
        self._eof = False

    def _fill(self) -> None:
        # Output is bounded per step (max_length), so a highly compressible layer (a gzip
        # bomb, or just a file of zeros) never inflates more than one chunk at a time.
        parts = [self._buffer[self._position :]]
        produced = 0
        while not self._eof and produced == 0:
            if self._inflate.unconsumed_tail:
                data = self._inflate.unconsumed_tail
            elif self._pending:
                data, self._pending = self._pending, b""
            else:
                data = self._raw.read(_CHUNK)
                if not data:
                    self._eof = True
                    parts.append(self._inflate.flush())
                    break
            out = self._inflate.decompress(data, _CHUNK)
            if self._inflate.eof and self._inflate.unused_data:
                # A multi-member gzip stream: the next member starts in what is left.
                self._pending = self._inflate.unused_data
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            produced = len(out)
            parts.append(out)
        self._buffer = b"".join(parts)
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            while not self._eof:
                self._fill()
            data = self._buffer[self._position :]
            self._buffer, self._position = b"", 0
            return data
        if len(self._buffer) - self._position < size:
            while not self._eof and len(self._buffer) - self._position < size:
                self._fill()
        data = self._buffer[self._position : self._position + size]
        self._position += len(data)
        return data


class _Prefixed:
    """``first`` followed by the rest of ``raw`` (to give back bytes read to sniff the format)."""

    def __init__(self, raw: BinaryIO, first: bytes) -> None:
        self._raw = raw
        self._first = first

    def read(self, size: int = -1) -> bytes:
        if self._first:
            if size < 0:
                data, self._first = self._first + self._raw.read(), b""
                return data
            data, self._first = self._first[:size], self._first[size:]
            return data
        return self._raw.read(size)


class _EofGuard:
    """Refuses to be read on and on past its end.

    :mod:`tarfile` skips a member's data in stream mode by reading it block by block
    without checking for the end of the stream: a header claiming a 1 TiB member would
    make it spin for hours on empty reads. Here that is a damaged layer, at once.
    """

    _EMPTY_READS_ALLOWED: Final = 8

    def __init__(self, raw: _Prefixed | _Gunzip, where: str) -> None:
        self._raw = raw
        self._where = where
        self._empty = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data or size == 0:
            return data
        self._empty += 1
        if self._empty > self._EMPTY_READS_ALLOWED:
            raise ImageError(f"{self._where}: truncated (a member claims more data than there is)")
        return data
