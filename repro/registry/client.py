"""The OCI distribution client: resolve, pull, push and referrers.

    client = RegistryClient(load_config())
    resolved = client.resolve(parse_reference("debian:bookworm"), platforms=[Platform.parse("linux/arm64")])
    print(resolved.ref.with_digest(resolved.digest), resolved.platforms[0].digest)

Everything fetched is verified against its digest before it is returned or renamed into
place; manifests are capped at 4 MiB. Reads go through the configured mirrors first
(:mod:`repro.registry.mirrors`); pushes and referrers go to the named registry only.
Requests to one registry are limited to its ``max_concurrency``.

One module, though long: resolve, pull, push and referrers share the per-registry slots,
the mirror fallback, the digest checks and the error mapping, and each is a method of the
one client a caller holds; the transport and auth are already modules of their own.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, Protocol, TypeVar

import requests

from repro.config import Config
from repro.digest import Digest, DigestWriter
from repro.errors import (
    AuthenticationError,
    DigestMismatchError,
    ManifestTooLargeError,
    NotFoundError,
    PlatformNotFoundError,
    ReferenceFormatError,
    RegistryError,
    RegistryUnreachableError,
    UsageError,
)
from repro.oci import media
from repro.oci.models import AnyManifest, Descriptor, Index, Manifest, index_json, parse_manifest
from repro.platform import Platform
from repro.reference import ImageRef
from repro.registry.auth import Authenticator, repository_scope
from repro.registry.credentials import CredentialStore
from repro.registry.mirrors import Endpoint, endpoints
from repro.registry.transport import (
    Body,
    RetryPolicy,
    StreamBody,
    Transport,
    iter_body,
    join_url,
    origin,
    read_body,
    redact_url,
    with_query,
)
from repro.threads import worker_pool

logger = logging.getLogger(__name__)

#: Manifests larger than this are refused (as containerd and the distribution spec do).
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
#: Largest image config read to learn a single-platform image's platform.
MAX_CONFIG_SIZE = 16 * 1024 * 1024
#: Blobs up to this size are uploaded in one PUT; larger ones in PATCH chunks of this size.
UPLOAD_CHUNK_SIZE = 8 * 1024 * 1024
MAX_ERROR_BODY = 64 * 1024
DEFAULT_RESOLVE_WORKERS = 16
#: Rounds of read, merge, write and re-read of a referrers fallback index before giving up.
FALLBACK_INDEX_ATTEMPTS = 8
#: Least time to wait after writing a fallback index before reading it back (seconds).
FALLBACK_INDEX_SETTLE = 0.05

PushOutcome = Literal["exists", "mounted", "uploaded"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class PlatformManifest:
    """The manifest of one platform of an image."""

    platform: Platform
    digest: Digest
    media_type: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": str(self.platform),
            "digest": str(self.digest),
            "mediaType": self.media_type,
            "size": self.size,
        }


@dataclass(frozen=True)
class Resolved:
    """What a reference points at now.

    ``ref`` is the reference as the user wrote it (even when a mirror answered);
    ``source`` is the registry or mirror entry that answered.
    """

    ref: ImageRef
    digest: Digest
    media_type: str
    size: int
    platforms: tuple[PlatformManifest, ...] = ()
    source: str = ""

    @property
    def is_index(self) -> bool:
        return self.media_type in media.INDEX_TYPES

    @property
    def pinned(self) -> str:
        """The user's reference with this digest, e.g. ``debian:bookworm@sha256:…``."""
        return self.ref.with_digest(self.digest)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``repro resolve --json`` prints)."""
        return {
            "ref": self.ref.text,
            "name": self.ref.name,
            "digest": str(self.digest),
            "pinned": self.pinned,
            "mediaType": self.media_type,
            "size": self.size,
            "source": self.source,
            "platforms": [entry.to_json() for entry in self.platforms],
        }


class _Slots:
    """Per-registry semaphores, re-entrant per thread (an operation may nest another)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()
        self._held = threading.local()

    @contextlib.contextmanager
    def __call__(self, domain: str) -> Iterator[None]:
        held: dict[str, int] = self._held.__dict__.setdefault("counts", {})
        if held.get(domain):
            held[domain] += 1
            try:
                yield
            finally:
                held[domain] -= 1
            return
        with self._lock:
            semaphore = self._semaphores.get(domain)
            if semaphore is None:
                semaphore = threading.BoundedSemaphore(self._config.registry(domain).max_concurrency)
                self._semaphores[domain] = semaphore
        with semaphore:
            held[domain] = 1
            try:
                yield
            finally:
                held[domain] = 0


class RegistryClient:
    """Talks to OCI registries with the user's configuration and credentials."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        credentials: CredentialStore | None = None,
        policy: RetryPolicy | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.config = config if config is not None else Config()
        self._transport = transport or Transport(self.config, policy=policy)
        self._auth = Authenticator(self._transport, credentials or CredentialStore())
        self._slots = _Slots(self.config)
        self._referrer_locks: dict[tuple[str, str, Digest], threading.Lock] = {}
        self._dead_mirrors: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<RegistryClient: {len(self.config.registries)} configured registries>"

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------

    def _call(
        self,
        domain: str,
        method: str,
        url: str,
        scopes: Sequence[str],
        *,
        headers: Mapping[str, str] | None = None,
        data: Body | None = None,
    ) -> requests.Response:
        """Send a request, authenticating on 401; the streamed response is the caller's."""
        same_origin = origin(url) == origin(self._transport.url(domain, "/v2/"))
        authorization = self._auth.cached(domain, scopes) if same_origin else None
        fresh = False
        while True:
            response = self._transport.send(
                domain, method, url, headers=headers, data=data, authorization=authorization
            )
            if response.status_code != 401 or not same_origin:
                return response
            challenge = response.headers.get("WWW-Authenticate")
            response.close()
            if fresh:
                raise AuthenticationError(
                    f"{domain}: authentication refused for {method} {redact_url(url)} "
                    f"(scope {' '.join(scopes)})"
                )
            authorization = self._auth.authorize(domain, challenge, scopes, previous=authorization)
            fresh = True

    def _url(self, domain: str, path: str, query: Mapping[str, str] | None = None) -> str:
        return self._transport.url(domain, path, query)

    def _check(self, response: requests.Response, domain: str, what: str, ok: Iterable[int] = (200,)) -> None:
        """Raise the error a non-``ok`` status means (closing the response)."""
        status = response.status_code
        if status in ok:
            return
        detail = _error_detail(response, domain)
        response.close()
        suffix = f": {detail}" if detail else ""
        if status == 404:
            raise NotFoundError(f"{what}: not found on {domain}{suffix}")
        if status in (401, 403):
            raise AuthenticationError(f"{what}: access denied by {domain}{suffix}")
        if status == 429:
            raise RegistryError(
                f"{what}: {domain} is rate limiting (429) and kept refusing",
                hint="wait and try again, or log in for a higher limit",
            )
        if status >= 500:
            raise RegistryError(f"{what}: {domain} failed with status {status}{suffix}")
        raise RegistryError(f"{what}: {domain} answered status {status}{suffix}")

    def _with_mirrors(
        self,
        domain: str,
        path: str,
        operation: Callable[[Endpoint], _T],
        *,
        may_retry: Callable[[], bool] = lambda: True,
    ) -> _T:
        """Run ``operation`` on each mirror in turn, then the origin, until one answers.

        A mirror that does not have the content or cannot be reached is skipped, unless
        ``may_retry`` says the failed attempt already had effects. An unreachable mirror
        is not tried again by this client.
        """
        candidates = endpoints(self.config, domain, path)
        failures: list[str] = []
        for endpoint in candidates[:-1]:
            if endpoint.domain in self._dead_mirrors:
                failures.append(f"mirror {endpoint.source}: unreachable")
                continue
            try:
                with self._slots(endpoint.domain):
                    return operation(endpoint)
            except (NotFoundError, RegistryUnreachableError) as exc:
                if not may_retry():
                    raise
                if isinstance(exc, RegistryUnreachableError):
                    # Not worth another round of retries for every later request.
                    self._dead_mirrors.add(endpoint.domain)
                    failures.append(f"mirror {endpoint.source}: unreachable ({exc})")
                else:
                    failures.append(f"mirror {endpoint.source} answered 404 (it does not have {path})")
                # Said without -v: a mirror that lacks what it should mirror is a set-up problem.
                logger.warning("%s; trying the next source", failures[-1])
        try:
            with self._slots(candidates[-1].domain):
                return operation(candidates[-1])
        except RegistryError as exc:
            if not failures:
                raise
            # The origin's error alone would hide that the mirrors were tried first.
            raise type(exc)(f"{exc}; before it: {'; '.join(failures)}", hint=exc.hint) from exc

    # -- resolve ------------------------------------------------------------------------

    def resolve(self, ref: ImageRef, *, platforms: Sequence[Platform] = ()) -> Resolved:
        """The digest ``ref`` names now, and with an index, each platform's manifest.

        A tag is resolved by fetching its manifest (at most 4 MiB) and hashing it; a ref
        with a digest is checked to exist with HEAD (and fetched, verified, when it is an
        index or ``platforms`` are asked for). With ``platforms``, each must be present
        (else PlatformNotFoundError) and ``Resolved.platforms`` lists exactly those, in
        order.
        """
        return self._with_mirrors(ref.domain, ref.path, lambda ep: self._resolve_at(ref, ep, platforms))

    def resolve_many(
        self, refs: Iterable[ImageRef], *, platforms: Sequence[Platform] = ()
    ) -> dict[ImageRef, Resolved | RegistryError]:
        """Resolve distinct refs concurrently; each maps to its result or its error."""
        unique = list(dict.fromkeys(refs))
        results: dict[ImageRef, Resolved | RegistryError] = {}
        if not unique:
            return results

        def one(ref: ImageRef) -> Resolved | RegistryError:
            try:
                return self.resolve(ref, platforms=platforms)
            except RegistryError as exc:
                return exc

        # Ctrl-C (or any error) must not wait for requests still in flight: a stalled
        # registry would hold the interrupt until its timeout. Queued ones never start.
        with worker_pool(min(len(unique), DEFAULT_RESOLVE_WORKERS), "repro-resolve") as pool:
            for ref, outcome in zip(unique, pool.map(one, unique), strict=True):
                results[ref] = outcome
        return results

    def _resolve_at(self, ref: ImageRef, ep: Endpoint, platforms: Sequence[Platform]) -> Resolved:
        document: AnyManifest | None = None
        if ref.digest is None:
            # The digest that ends up pinned in a Dockerfile is computed here from the bytes
            # the registry serves (and checked against its Docker-Content-Digest), never
            # taken from a header alone: so a tag is resolved with GET, not HEAD.
            document = self._get_manifest_at(ep, ref.reference, expected=None)
            digest = document.digest
        else:
            digest = ref.digest
            what = f"{ep.domain}/{ep.path}@{digest}"
            url = self._url(ep.domain, f"/v2/{ep.path}/manifests/{digest}")
            with self._call(
                ep.domain, "HEAD", url, _pull(ep.path), headers={"Accept": media.MANIFEST_ACCEPT}
            ) as head:
                self._check(head, ep.domain, what)
                header_digest = _digest_header(head, ep.domain)
                content_type = _bare_type(head.headers.get("Content-Type"))
                length = _content_length(head)
            if header_digest is not None and header_digest != digest:
                raise DigestMismatchError(f"{what}: the registry says it is {header_digest}")
            if platforms or content_type not in media.IMAGE_MANIFEST_TYPES or length is None:
                document = self._get_manifest_at(ep, str(digest), expected=digest)
            else:
                media_type, size = content_type, length
        if document is not None:
            media_type, size = document.media_type, document.size
        entries: tuple[PlatformManifest, ...] = ()
        if isinstance(document, Index):
            entries = _select_platforms(ref, document, platforms)
        elif isinstance(document, Manifest) and platforms:
            entries = self._single_platform(ref, ep, document, platforms)
        return Resolved(
            ref=ref, digest=digest, media_type=media_type, size=size, platforms=entries, source=ep.source
        )

    def _single_platform(
        self, ref: ImageRef, ep: Endpoint, manifest: Manifest, platforms: Sequence[Platform]
    ) -> tuple[PlatformManifest, ...]:
        """A one-platform image satisfies a platform request only if its config says so."""
        if manifest.config.size > MAX_CONFIG_SIZE:
            raise RegistryError(f"{ref.text}: image config of {manifest.config.size} bytes is too large")
        buffer = io.BytesIO()
        self._fetch_blob_at(ep, manifest.config.digest, buffer, manifest.config.size)
        try:
            config = json.loads(buffer.getvalue())
            platform = Platform.from_oci(config) if isinstance(config, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError, UsageError):
            platform = None
        if platform is None:
            raise RegistryError(f"{ref.text}: the image config does not name a platform")
        for wanted in platforms:
            if not platform.matches(wanted):
                raise PlatformNotFoundError(
                    f"{ref.text}: no image for platform {wanted} (the image is {platform})"
                )
        return (PlatformManifest(platform, manifest.digest, manifest.media_type, manifest.size),)

    # -- pull ---------------------------------------------------------------------------

    def get_manifest(self, ref: ImageRef) -> AnyManifest:
        """The manifest or index ``ref`` names, its exact bytes verified.

        By digest, against that digest; by tag, against the registry's
        ``Docker-Content-Digest`` (when it sends one).
        """
        return self._with_mirrors(
            ref.domain, ref.path, lambda ep: self._get_manifest_at(ep, ref.reference, expected=ref.digest)
        )

    def _get_manifest_at(self, ep: Endpoint, reference: str, *, expected: Digest | None) -> AnyManifest:
        document, _ = self._get_manifest_and_etag(ep, reference, expected=expected)
        return document

    def _get_manifest_and_etag(
        self, ep: Endpoint, reference: str, *, expected: Digest | None
    ) -> tuple[AnyManifest, str | None]:
        what = f"manifest {ep.domain}/{ep.path}{'@' if ':' in reference else ':'}{reference}"
        url = self._url(ep.domain, f"/v2/{ep.path}/manifests/{reference}")
        with self._call(
            ep.domain, "GET", url, _pull(ep.path), headers={"Accept": media.MANIFEST_ACCEPT}
        ) as response:
            self._check(response, ep.domain, what)
            length = _content_length(response)
            if length is not None and length > MAX_MANIFEST_SIZE:
                raise ManifestTooLargeError(f"{what}: {length} bytes, more than {MAX_MANIFEST_SIZE}")
            data = read_body(response, ep.domain, MAX_MANIFEST_SIZE)
            if len(data) > MAX_MANIFEST_SIZE:
                raise ManifestTooLargeError(f"{what}: more than {MAX_MANIFEST_SIZE} bytes")
            header_digest = _digest_header(response, ep.domain)
            content_type = response.headers.get("Content-Type")
            etag = response.headers.get("ETag")
        if length is not None and len(data) != length:
            raise RegistryUnreachableError(f"{what}: got {len(data)} of {length} bytes")
        check = expected if expected is not None else header_digest
        if check is not None:
            actual = Digest.of(data, check.algorithm)
            if actual != check:
                source = "requested" if expected is not None else "announced by the registry"
                raise DigestMismatchError(f"{what}: content hashes to {actual}, not the {source} {check}")
        return parse_manifest(data, content_type, digest=check or Digest.of(data)), etag

    def fetch_blob(
        self, domain: str, path: str, digest: Digest, dest: BinaryIO | Path, *, size: int | None = None
    ) -> int:
        """Stream blob ``digest`` of ``domain/path`` into ``dest``; return its size.

        The content is verified against ``digest`` (and ``size`` when given). A Path
        destination appears only once verified: nothing is left behind on failure. A
        file object receives the bytes as they arrive and must be discarded on error.
        """
        if isinstance(dest, Path):
            return self._with_mirrors(domain, path, lambda ep: self._fetch_blob_at(ep, digest, dest, size))
        start = dest.tell() if dest.seekable() else None
        counter = _CountingWriter(dest)

        def untouched() -> bool:
            # A stream that received bytes from a failed mirror can only be reused if it
            # can be rewound.
            if counter.count == 0:
                return True
            if start is None:
                return False
            dest.seek(start)
            dest.truncate()
            counter.count = 0
            return True

        return self._with_mirrors(
            domain, path, lambda ep: self._fetch_blob_at(ep, digest, counter, size), may_retry=untouched
        )

    def _fetch_blob_at(self, ep: Endpoint, digest: Digest, dest: _Sink | Path, size: int | None) -> int:
        what = f"blob {ep.domain}/{ep.path}@{digest}"
        url = self._url(ep.domain, f"/v2/{ep.path}/blobs/{digest}")
        with self._call(ep.domain, "GET", url, _pull(ep.path)) as response:
            self._check(response, ep.domain, what)
            length = _content_length(response)
            if size is not None and length is not None and length != size:
                raise DigestMismatchError(f"{what}: the registry sends {length} bytes, expected {size}")
            if isinstance(dest, Path):
                return _write_atomically(
                    dest,
                    lambda fh: _copy_verified(
                        response, domain=ep.domain, what=what, dest=fh, digest=digest, size=size
                    ),
                )
            return _copy_verified(response, domain=ep.domain, what=what, dest=dest, digest=digest, size=size)

    # -- push ---------------------------------------------------------------------------

    def blob_exists(self, domain: str, path: str, digest: Digest) -> bool:
        """Whether ``domain/path`` has blob ``digest``."""
        with self._slots(domain):
            return self._blob_exists(domain, path, digest, _pull(path))

    def _blob_exists(self, domain: str, path: str, digest: Digest, scopes: Sequence[str]) -> bool:
        url = self._url(domain, f"/v2/{path}/blobs/{digest}")
        with self._call(domain, "HEAD", url, scopes) as response:
            if response.status_code == 404:
                return False
            self._check(response, domain, f"blob {domain}/{path}@{digest}")
            return True

    def push_blob(
        self,
        domain: str,
        path: str,
        digest: Digest,
        source: Path | BinaryIO,
        size: int,
        *,
        mount_from: str | None = None,
    ) -> PushOutcome:
        """Make sure ``domain/path`` has blob ``digest``; say how.

        Skipped when the blob is there already; mounted from repository ``mount_from``
        (a path on the same registry, or ``host/path``) when possible; else uploaded, in
        one PUT when small or in PATCH chunks, with the content verified as it is read.
        """
        scopes = _push(path)
        what = f"blob {domain}/{path}@{digest}"
        with self._slots(domain):
            if self._blob_exists(domain, path, digest, scopes):
                logger.debug("%s: already present", what)
                return "exists"
            location: str | None = None
            mount_path = _mount_path(mount_from, domain)
            if mount_path is not None and mount_path != path:
                url = self._url(
                    domain, f"/v2/{path}/blobs/uploads/", {"mount": str(digest), "from": mount_path}
                )
                with self._call(domain, "POST", url, (*scopes, *_pull(mount_path))) as response:
                    if response.status_code == 201:
                        logger.debug("%s: mounted from %s", what, mount_path)
                        return "mounted"
                    self._check(response, domain, f"{what} (mount)", ok=(202,))
                    location = _location(response, url, domain)
            if location is None:
                url = self._url(domain, f"/v2/{path}/blobs/uploads/")
                with self._call(domain, "POST", url, scopes) as response:
                    self._check(response, domain, f"{what} (start upload)", ok=(202,))
                    location = _location(response, url, domain)
            if isinstance(source, Path):
                with source.open("rb") as fh:
                    self._upload(domain, path, digest, source=fh, size=size, location=location, what=what)
            else:
                self._upload(domain, path, digest, source=source, size=size, location=location, what=what)
            return "uploaded"

    def _upload(
        self,
        domain: str,
        path: str,
        digest: Digest,
        *,
        source: IO[bytes],
        size: int,
        location: str,
        what: str,
    ) -> None:
        scopes = _push(path)
        hasher = Digest.hasher(digest.algorithm)
        octet = {"Content-Type": "application/octet-stream"}
        if size <= UPLOAD_CHUNK_SIZE:
            data = source.read(size + 1)
            hasher.update(data)
            _check_local(hasher, digest, size, what)
            url = with_query(location, {"digest": str(digest)})
            with self._call(domain, "PUT", url, scopes, headers=octet, data=data) as response:
                self._check(response, domain, what, ok=(201,))
            return
        if _seekable(source):
            # One streamed PATCH: the registry commits a chunk per request, so fewer
            # requests make the upload faster, and memory stays one read buffer.
            body = StreamBody(source, size, digest.algorithm)
            headers = {**octet, "Content-Range": f"0-{size - 1}"}
            with self._call(domain, "PATCH", location, scopes, headers=headers, data=body) as response:
                self._check(response, domain, f"{what} (streamed)", ok=(202,))
                location = _location(response, location, domain)
            if body.sent != size or body.digest() != digest:
                raise DigestMismatchError(
                    f"{what}: the local content is not {digest} ({body.sent} bytes hash to {body.digest()})"
                )
            url = with_query(location, {"digest": str(digest)})
            with self._call(domain, "PUT", url, scopes, headers=octet, data=b"") as response:
                self._check(response, domain, what, ok=(201,))
            return
        offset = 0
        while offset < size:
            chunk = source.read(min(UPLOAD_CHUNK_SIZE, size - offset))
            if not chunk:
                break
            hasher.update(chunk)
            headers = {**octet, "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
            with self._call(domain, "PATCH", location, scopes, headers=headers, data=chunk) as response:
                self._check(response, domain, f"{what} (chunk at {offset})", ok=(202,))
                location = _location(response, location, domain)
            offset += len(chunk)
        if source.read(1):
            hasher.update(b"?")  # the source is longer than announced
        _check_local(hasher, digest, size, what)
        url = with_query(location, {"digest": str(digest)})
        with self._call(domain, "PUT", url, scopes, headers=octet, data=b"") as response:
            self._check(response, domain, what, ok=(201,))

    def push_manifest(
        self,
        domain: str,
        path: str,
        reference: str,
        data: bytes,
        media_type: str,
        *,
        verify_references: bool = True,
    ) -> Digest:
        """Push manifest bytes exactly as given under ``reference`` (a tag or its digest).

        The manifest is validated first and, with ``verify_references``, everything it
        references (blobs, or an index's manifests) must already be in the repository,
        so that no manifest is ever pushed ahead of its content.
        """
        digest, _ = self._push_manifest(
            domain, path, reference, data, media_type=media_type, verify_references=verify_references
        )
        return digest

    def _push_manifest(
        self, domain: str, path: str, reference: str, data: bytes, *, media_type: str, verify_references: bool
    ) -> tuple[Digest, Mapping[str, str]]:
        document = parse_manifest(data, media_type)
        if document.media_type != media_type:
            raise UsageError(f"manifest declares media type {document.media_type}, not {media_type}")
        local = document.digest
        if ":" in reference:
            try:
                wanted = Digest.parse(reference)
            except ReferenceFormatError as exc:
                raise UsageError(f"manifest reference {reference!r} is neither a tag nor a digest") from exc
            if Digest.of(data, wanted.algorithm) != wanted:
                raise UsageError(f"manifest bytes do not hash to {wanted}, the reference they are pushed as")
        scopes = _push(path)
        what = f"manifest {domain}/{path}{'@' if ':' in reference else ':'}{reference}"
        with self._slots(domain):
            if verify_references:
                self._check_references(domain, path, document, scopes, what)
            url = self._url(domain, f"/v2/{path}/manifests/{reference}")
            with self._call(
                domain, "PUT", url, scopes, headers={"Content-Type": media_type}, data=data
            ) as response:
                self._check(response, domain, what, ok=(201, 200))
                remote = _digest_header(response, domain)
                headers = dict(response.headers)
        if remote is not None and remote.algorithm == local.algorithm and remote != local:
            raise DigestMismatchError(f"{what}: pushed {local} but the registry stored {remote}")
        logger.debug("%s: pushed as %s", what, local)
        return local, headers

    def _check_references(
        self, domain: str, path: str, document: AnyManifest, scopes: Sequence[str], what: str
    ) -> None:
        if isinstance(document, Manifest):
            for blob in (document.config, *document.layers):
                if not self._blob_exists(domain, path, blob.digest, scopes):
                    raise NotFoundError(
                        f"{what}: refusing to push, blob {blob.digest} is not in {domain}/{path}"
                    )
            return
        for entry in document.manifests:
            url = self._url(domain, f"/v2/{path}/manifests/{entry.digest}")
            with self._call(
                domain, "HEAD", url, scopes, headers={"Accept": media.MANIFEST_ACCEPT}
            ) as response:
                if response.status_code == 404:
                    raise NotFoundError(
                        f"{what}: refusing to push, manifest {entry.digest} is not in {domain}/{path}"
                    )
                self._check(response, domain, f"manifest {domain}/{path}@{entry.digest}")

    # -- referrers ----------------------------------------------------------------------

    def referrers(
        self, domain: str, path: str, subject: Digest, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """The manifests that name ``subject`` as their subject, optionally of one type.

        Uses the OCI 1.1 referrers API, or the ``<alg>-<hex>`` tag index when the
        registry has no such API.
        """
        scopes = _pull(path)
        with self._slots(domain):
            query = {"artifactType": artifact_type} if artifact_type else None
            url = self._url(domain, f"/v2/{path}/referrers/{subject}", query)
            with self._call(domain, "GET", url, scopes, headers={"Accept": media.OCI_INDEX}) as response:
                if response.status_code == 404:
                    response.close()
                    index = self._fallback_index(domain, path, subject)
                else:
                    self._check(response, domain, f"referrers of {domain}/{path}@{subject}")
                    data = read_body(response, domain, MAX_MANIFEST_SIZE)
                    if len(data) > MAX_MANIFEST_SIZE:
                        raise ManifestTooLargeError(
                            f"referrers of {subject}: more than {MAX_MANIFEST_SIZE} bytes"
                        )
                    parsed = parse_manifest(data, media.OCI_INDEX)
                    if not isinstance(parsed, Index):
                        raise RegistryError(
                            f"referrers of {subject}: the registry did not answer with an index"
                        )
                    index = parsed
        entries = [] if index is None else list(index.manifests)
        if artifact_type is not None:
            entries = [d for d in entries if d.artifact_type == artifact_type]
        return entries

    def _fallback_index(self, domain: str, path: str, subject: Digest) -> Index | None:
        return self._fallback_index_and_etag(domain, path, subject)[0]

    def _fallback_index_and_etag(
        self, domain: str, path: str, subject: Digest
    ) -> tuple[Index | None, str | None]:
        try:
            document, etag = self._get_manifest_and_etag(
                Endpoint(domain, path, domain), _fallback_tag(subject), expected=None
            )
        except NotFoundError:
            return None, None
        if not isinstance(document, Index):
            raise RegistryError(f"{domain}/{path}:{_fallback_tag(subject)} is not an index")
        return document, etag

    def push_referrer(
        self, domain: str, path: str, manifest_bytes: bytes, media_type: str, subject: Digest
    ) -> Digest:
        """Push an artifact manifest whose ``subject`` is ``subject``, and make it findable.

        When the registry has no referrers API (no ``OCI-Subject`` header in its answer),
        the ``<alg>-<hex>`` tag index is updated: the artifact is added, with its
        ``artifactType`` and annotations, unless it is listed already; other entries stay.
        """
        document = parse_manifest(manifest_bytes, media_type)
        if document.subject is None or document.subject.digest != subject:
            raise UsageError(f"the artifact manifest's subject must be {subject}")
        digest, headers = self._push_manifest(
            domain, path, str(document.digest), manifest_bytes, media_type=media_type, verify_references=True
        )
        if headers.get("OCI-Subject"):
            return digest
        if isinstance(document, Manifest):
            entry = document.descriptor()
        else:
            entry = Descriptor(
                media_type=document.media_type,
                digest=document.digest,
                size=document.size,
                annotations=document.annotations,
                artifact_type=document.artifact_type,
            )
        with self._lock:
            lock = self._referrer_locks.setdefault((domain, path, subject), threading.Lock())
        with lock, self._slots(domain):
            self._add_to_fallback_index(domain, path, subject, entry)
        return digest

    def _add_to_fallback_index(self, domain: str, path: str, subject: Digest, entry: Descriptor) -> None:
        """Add ``entry`` to the ``<alg>-<hex>`` index, and make sure it stays there.

        Updating the tag is a read-modify-write with no lock: another process that read
        the index before our write and writes after it drops our entry. The write carries
        ``If-Match`` (the ETag read), so a registry that honours it refuses a stale write
        with 412; Distribution 2.8 ignores it. So after each write the index is read again
        once any writer that could have read the old version has written too (twice our
        own read-to-write time, plus jitter), and the entry is merged in again if it is
        gone. Entries are only ever added, so this converges; it gives up after
        :data:`FALLBACK_INDEX_ATTEMPTS` writes.
        """
        tag = _fallback_tag(subject)
        what = f"referrers index {domain}/{path}:{tag}"
        for attempt in range(FALLBACK_INDEX_ATTEMPTS + 1):
            started = time.monotonic()
            current, etag = self._fallback_index_and_etag(domain, path, subject)
            if current is not None and any(d.digest == entry.digest for d in current.manifests):
                logger.debug("%s lists %s", what, entry.digest)
                return
            if attempt == FALLBACK_INDEX_ATTEMPTS:
                break
            if attempt:
                logger.info("%s: %s was dropped by a concurrent writer; adding it again", what, entry.digest)
            data = _fallback_index_with(current, entry)
            headers = {"Content-Type": media.OCI_INDEX}
            if current is None:
                headers["If-None-Match"] = "*"
            elif etag:
                headers["If-Match"] = etag
            url = self._url(domain, f"/v2/{path}/manifests/{tag}")
            with self._call(domain, "PUT", url, _push(path), headers=headers, data=data) as response:
                if response.status_code == 412:
                    response.close()
                    logger.info("%s changed since it was read; reading it again", what)
                else:
                    self._check(response, domain, what, ok=(201, 200))
                    remote = _digest_header(response, domain)
                    if remote is not None and remote.algorithm == "sha256" and remote != Digest.of(data):
                        raise DigestMismatchError(f"{what}: the registry stored {remote}, not what was sent")
            settle = max(FALLBACK_INDEX_SETTLE, 2 * (time.monotonic() - started))
            time.sleep(settle * (1 + secrets.randbelow(1000) / 1000))
        raise RegistryError(
            f"{what}: {entry.digest} kept being dropped by concurrent writers "
            f"({FALLBACK_INDEX_ATTEMPTS} attempts)",
            hint="the artifact itself was pushed; run the push again when fewer writers are active",
        )


# -- helpers ----------------------------------------------------------------------------


def _pull(path: str) -> tuple[str]:
    return (repository_scope(path, ("pull",)),)


def _push(path: str) -> tuple[str]:
    return (repository_scope(path, ("pull", "push")),)


def _fallback_index_with(current: Index | None, entry: Descriptor) -> bytes:
    """The fallback index ``current`` (entries kept as they are, unknown fields too) plus ``entry``."""
    raw_entries: list[dict[str, Any]] = []
    annotations: Mapping[str, str] | None = None
    if current is not None:
        raw_entries = list(json.loads(current.data)["manifests"])
        annotations = current.annotations
    return index_json([*raw_entries, entry.to_json()], annotations=annotations)


def _fallback_tag(subject: Digest) -> str:
    """The referrers tag schema: ``<alg>-<ref>``, alg cut to 32 and ref to 64 characters."""
    return f"{subject.algorithm[:32]}-{subject.hex[:64]}"


def _mount_path(mount_from: str | None, domain: str) -> str | None:
    """The repository path to mount from, or None when it is on another registry."""
    if not mount_from:
        return None
    first, slash, rest = mount_from.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return rest if first == domain else None
    return mount_from


def _bare_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _digest_header(response: requests.Response, domain: str) -> Digest | None:
    value = response.headers.get("Docker-Content-Digest")
    if not value:
        return None
    try:
        return Digest.parse(value.strip())
    except ReferenceFormatError as exc:
        raise RegistryError(f"{domain}: invalid Docker-Content-Digest header") from exc


def _location(response: requests.Response, url: str, domain: str) -> str:
    location = response.headers.get("Location")
    if not location:
        raise RegistryError(f"{domain}: upload answer without a Location header")
    return join_url(url, location, "upload Location")


def _error_detail(response: requests.Response, domain: str) -> str:
    """The registry's error codes and messages, shortened; never headers."""
    if response.request is not None and response.request.method == "HEAD":
        return ""
    try:
        body = read_body(response, domain, MAX_ERROR_BODY)
        document = json.loads(body)
    except (RegistryError, UnicodeDecodeError, json.JSONDecodeError):
        return ""
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for error in errors[:3]:
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            parts.append(" ".join(str(p) for p in (code, message) if isinstance(p, str)))
    text = "; ".join(p for p in parts if p)
    return "".join(c if c.isprintable() else "?" for c in text)[:300]


def _select_platforms(
    ref: ImageRef, index: Index, platforms: Sequence[Platform]
) -> tuple[PlatformManifest, ...]:
    available = [
        PlatformManifest(d.platform, d.digest, d.media_type, d.size)
        for d in index.platform_manifests()
        if d.platform is not None
    ]
    if not platforms:
        return tuple(available)
    chosen: list[PlatformManifest] = []
    for wanted in platforms:
        match = next((p for p in available if p.platform.matches(wanted)), None)
        if match is None:
            offered = ", ".join(str(p.platform) for p in available) or "none"
            raise PlatformNotFoundError(
                f"{ref.text}: no manifest for platform {wanted} (available: {offered})"
            )
        chosen.append(match)
    return tuple(chosen)


def _check_local(hasher: DigestWriter, digest: Digest, size: int, what: str) -> None:
    if hasher.size != size or hasher.digest() != digest:
        raise DigestMismatchError(
            f"{what}: the local content ({hasher.size} bytes) does not match the digest and size {size} given",
            hint="the source changed or the digest is wrong; nothing was pushed under that digest",
        )


def _copy_verified(
    response: requests.Response,
    *,
    domain: str,
    what: str,
    dest: _Sink,
    digest: Digest,
    size: int | None,
) -> int:
    hasher = Digest.hasher(digest.algorithm)
    for chunk in iter_body(response, domain):
        hasher.update(chunk)
        if size is not None and hasher.size > size:
            raise DigestMismatchError(f"{what}: the registry sent more than the {size} bytes expected")
        dest.write(chunk)
    if size is not None and hasher.size != size:
        raise DigestMismatchError(f"{what}: got {hasher.size} bytes, expected {size} (truncated)")
    actual = hasher.digest()
    if actual != digest:
        raise DigestMismatchError(f"{what}: content hashes to {actual}")
    return hasher.size


def _write_atomically(dest: Path, write: Callable[[_Sink], int]) -> int:
    """Run ``write`` on a temporary file next to ``dest``; rename it into place on success."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            written = write(fh)
        tmp.replace(dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return written


class _Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class _CountingWriter:
    """Passes writes through to a binary stream, counting the bytes."""

    def __init__(self, target: _Sink) -> None:
        self.target = target
        self.count = 0

    def write(self, data: bytes) -> int:
        self.target.write(data)
        self.count += len(data)
        return len(data)


def _seekable(source: IO[bytes]) -> bool:
    try:
        return source.seekable()
    except (AttributeError, ValueError, OSError):
        return False
