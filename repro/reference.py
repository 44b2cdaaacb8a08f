"""Image references, parsed and normalised by the rules of Docker's distribution/reference.

A reference is ``[DOMAIN/]PATH[:TAG][@DIGEST]``. Like ``docker pull``, a missing domain
means Docker Hub (``docker.io``) and a one-component Hub path gets ``library/``. The
user's own spelling is kept too, because pinning writes it back unchanged.

    >>> ref = parse_reference("debian:bookworm")
    >>> ref.name, ref.tag, ref.familiar
    ('docker.io/library/debian', 'bookworm', 'debian:bookworm')
    >>> ref.with_digest(Digest.parse("sha256:" + "ab" * 32))[:31]
    'debian:bookworm@sha256:abababab'
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Final

from repro.digest import Digest
from repro.errors import ReferenceFormatError

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_TAG", "ImageRef", "parse_reference"]

DEFAULT_DOMAIN: Final = "docker.io"
LEGACY_DEFAULT_DOMAIN: Final = "index.docker.io"
OFFICIAL_PREFIX: Final = "library/"
DEFAULT_TAG: Final = "latest"
NAME_TOTAL_LENGTH_MAX: Final = 255
# No valid reference comes near this (255 name + 128 tag + a sha512 digest); refusing
# longer input up front keeps the regular expressions below cheap on hostile text.
_TEXT_LENGTH_MAX: Final = 1024

# The grammar of distribution/reference (regexp.go), written out piece by piece.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_DOMAIN_RE = re.compile(rf"{_HOST}(?::[0-9]+)?")
_REMAINDER_RE = re.compile(
    rf"(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_TAG_RE = re.compile(_TAG)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference; build one with :func:`parse_reference`.

    ``text`` is exactly what the user wrote; ``domain`` and ``path`` are normalised
    (``docker.io`` and ``library/debian`` for ``debian``).
    """

    text: str
    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """The full normalised repository name, e.g. ``docker.io/library/debian``."""
        return f"{self.domain}/{self.path}"

    @property
    def written_name(self) -> str:
        """The repository name as the user spelled it, without tag or digest."""
        suffix = self._suffix(self.tag, self.digest)
        return self.text[: len(self.text) - len(suffix)] if suffix else self.text

    @property
    def familiar(self) -> str:
        """Docker's short form: ``docker.io/`` and a lone ``library/`` dropped."""
        name = self.name
        if self.domain == DEFAULT_DOMAIN:
            name = self.path
            rest = name.removeprefix(OFFICIAL_PREFIX)
            if rest != name and "/" not in rest:
                name = rest
        return name + self._suffix(self.tag, self.digest)

    @property
    def is_pinned(self) -> bool:
        return self.digest is not None

    @property
    def effective_tag(self) -> str:
        """The tag, or ``latest`` when none was written."""
        return self.tag if self.tag is not None else DEFAULT_TAG

    @property
    def reference(self) -> str:
        """What goes in ``/v2/<name>/manifests/<reference>``: the digest if set, else the tag."""
        return str(self.digest) if self.digest is not None else self.effective_tag

    def with_digest(self, digest: Digest) -> str:
        """The user's spelling and tag, pinned to ``digest`` (any old digest replaced)."""
        return self.written_name + self._suffix(self.tag, digest)

    def with_tag(self, tag: str) -> ImageRef:
        """A copy with ``tag`` instead of the current tag (the digest is kept)."""
        if _TAG_RE.fullmatch(tag) is None:
            raise ReferenceFormatError(f"invalid tag format: {tag!r}")
        return dataclasses.replace(self, text=self.written_name + self._suffix(tag, self.digest), tag=tag)

    def without_digest(self) -> ImageRef:
        """A copy without the digest, as the user would have written it."""
        return dataclasses.replace(self, text=self.written_name + self._suffix(self.tag, None), digest=None)

    @staticmethod
    def _suffix(tag: str | None, digest: Digest | None) -> str:
        return (f":{tag}" if tag is not None else "") + (f"@{digest}" if digest is not None else "")

    def __str__(self) -> str:
        return self.name + self._suffix(self.tag, self.digest)


def _split_domain(text: str) -> tuple[str, str]:
    """Docker's splitDockerDomain: the first component is a domain if it looks like one."""
    slash = text.find("/")
    first = text[:slash]
    if slash == -1 or (
        "." not in first and ":" not in first and first != "localhost" and first == first.lower()
    ):
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = first, text[slash + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str) -> ImageRef:
    """Parse and normalise an image reference as ``docker pull`` does.

    Raises :class:`~repro.errors.ReferenceFormatError` with Docker's wording and the input
    quoted when ``text`` is not a valid reference.
    """
    if not text:
        raise ReferenceFormatError("invalid reference format: '' (empty)")
    if len(text) > _TEXT_LENGTH_MAX:
        raise ReferenceFormatError(f"invalid reference format: {text[:40]!r}… is far too long")
    if _IDENTIFIER_RE.fullmatch(text):
        raise ReferenceFormatError(
            f"invalid repository name {text!r}: cannot specify 64-byte hexadecimal strings",
            hint="an image ID is not a reference; write NAME@sha256:DIGEST to name an image by digest",
        )
    domain, remainder = _split_domain(text)
    # Docker checks case on everything before the first ':' of the remainder, so a tag
    # may be upper case but the repository path may not.
    remote_name = remainder.partition(":")[0]
    if remote_name != remote_name.lower():
        raise ReferenceFormatError(f"invalid reference format: repository name must be lowercase: {text!r}")

    match = _REMAINDER_RE.fullmatch(remainder)
    if match is None:
        raise ReferenceFormatError(f"invalid reference format: {text!r}")
    if _DOMAIN_RE.fullmatch(domain) is None:
        # Docker's own grammar would re-read e.g. "foo_bar.com/repo" as a path with no
        # domain at all; such a name cannot be pulled from anywhere, so it is refused.
        raise ReferenceFormatError(
            f"invalid reference format: {domain!r} is not a valid registry host in {text!r}"
        )

    path = match["path"]
    if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceFormatError(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters: {text!r}"
        )
    digest = None
    if match["digest"] is not None:
        try:
            digest = Digest.parse(match["digest"])
        except ReferenceFormatError as err:
            raise ReferenceFormatError(f"invalid digest in reference {text!r}: {err}") from err
    return ImageRef(text=text, domain=domain, path=path, tag=match["tag"], digest=digest)
