"""HTTP transport for registry traffic: pooled sessions, TLS, bounded retries, redirects.

One :class:`requests.Session` per host. TLS is verified (with the registry's ``ca_file``
when configured); plain http is used only for registries configured ``insecure``.
:class:`Transport` retries only connection errors, 429 and 5xx, within
:class:`RetryPolicy`'s bounds, and follows redirects itself so an ``Authorization`` header
never leaves the origin it was meant for (blob downloads redirect to storage hosts).

The pure pieces (:func:`api_host`, :func:`registry_url`, :func:`redact_url`,
:func:`parse_retry_after`, :class:`RetryPolicy`) are unit-tested without a network:

    >>> api_host("docker.io")
    'registry-1.docker.io'
    >>> RetryPolicy().delay(1, status=404, retry_after=None, elapsed=0.0) is None
    True

One module, though a little long: sessions, retries and redirects decide together whether
a request may be sent again and to whom; split apart, that decision would be spread out.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, NoReturn
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import requests
import requests.adapters
import urllib3.exceptions

from repro import __version__
from repro.config import Config
from repro.digest import Digest
from repro.errors import ConfigError, RegistryError, RegistryUnreachableError
from repro.registry.hints import KINDS, connection_failure_kind, unreachable_hint

logger = logging.getLogger(__name__)

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
USER_AGENT = f"repro/{__version__}"

#: The connect timeout never exceeds this, so a dead host is noticed quickly.
MAX_CONNECT_TIMEOUT = 5.0
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_SIZE = 1024 * 1024

# Query parameters whose values are safe to log; every other value is replaced, since
# storage redirects carry signatures and upload locations carry state in the query.
_LOGGABLE_QUERY_KEYS = frozenset({"digest", "mount", "from", "n", "last", "artifactType", "service", "scope"})
_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def api_host(domain: str) -> str:
    """The host that serves the registry API for ``domain`` (Docker Hub's is different)."""
    return DOCKER_HUB_API if domain == DOCKER_HUB else domain


def registry_url(domain: str, path: str, *, insecure: bool, query: Mapping[str, str] | None = None) -> str:
    """The URL of API ``path`` (e.g. ``/v2/library/debian/manifests/12``) on ``domain``."""
    scheme = "http" if insecure else "https"
    encoded_path = quote(path, safe="/:@")
    return urlunsplit((scheme, api_host(domain), encoded_path, urlencode(query or {}), ""))


def with_query(url: str, query: Mapping[str, str]) -> str:
    """``url`` with ``query`` parameters appended (keeping those it already has)."""
    parts = urlsplit(url)
    existing = parse_qsl(parts.query, keep_blank_values=True)
    return urlunsplit(parts._replace(query=urlencode([*existing, *query.items()])))


def origin(url: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` of a URL, lower-cased, the unit credentials are scoped to."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def checked_url(url: str, what: str = "URL") -> str:
    """``url`` if it is an absolute http(s) URL that parses, else RegistryError.

    URLs come from registries (redirects, upload locations, token realms): a malformed
    one must be an error of the registry, not a ValueError from deep in a library.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise RegistryError(f"malformed {what} from the registry") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise RegistryError(f"{what} is not an absolute http(s) URL: {redact_url(url)}")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in url):
        raise RegistryError(f"{what} contains spaces, control or non-ASCII characters")
    return url


def join_url(base: str, location: str, what: str = "Location") -> str:
    """``location`` (absolute or relative, as in a Location header) resolved against ``base``."""
    try:
        joined = urljoin(base, location)
    except ValueError:
        raise RegistryError(f"malformed {what} from the registry") from None
    return checked_url(joined, what)


def redact_url(url: str) -> str:
    """``url`` fit for logs and messages: user info dropped, secret-looking query values hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [
            (k, v if k in _LOGGABLE_QUERY_KEYS else "REDACTED")
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (delta-seconds or HTTP-date).

    None when absent or unparseable; never negative.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


class StreamBody:
    """A request body streamed from a seekable file, that can be sent again from its start.

    ``requests`` streams any object with ``read`` (with a Content-Length from ``len``); a
    retried or redirected request calls :meth:`rewind` first, so a second attempt never
    sends a half-read stream. Each attempt is hashed as it is sent: ``digest()`` is the
    digest of what the last attempt sent.
    """

    def __init__(self, source: IO[bytes], size: int, algorithm: str = "sha256") -> None:
        self._source = source
        self._start = source.tell()
        self._size = size
        self._algorithm = algorithm
        self.rewind()

    def rewind(self) -> None:
        self._source.seek(self._start)
        self._left = self._size
        self._hasher = Digest.hasher(self._algorithm)

    def __len__(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        want = self._left if size < 0 else min(size, self._left)
        data = self._source.read(want) if want else b""
        self._left -= len(data)
        self._hasher.update(data)
        return data

    def digest(self) -> Digest:
        return self._hasher.digest()

    @property
    def sent(self) -> int:
        return self._hasher.size


Body = bytes | StreamBody


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a request again, and how long to wait first.

    Only connection errors, 429 and 5xx are retried; ``attempts`` bounds the number of
    tries and ``total`` the seconds spent (a retry that would end after it is not made).
    """

    attempts: int = 4
    total: float = 30.0
    backoff: float = 0.25
    max_backoff: float = 4.0
    max_retry_after: float = 10.0

    @staticmethod
    def is_retryable_status(status: int) -> bool:
        return status == 429 or 500 <= status <= 599

    def delay(
        self,
        attempt: int,
        *,
        status: int | None,
        retry_after: str | None,
        elapsed: float,
        now: datetime | None = None,
    ) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or None to stop.

        ``attempt`` is the number of the try that just failed (1 for the first);
        ``status`` is None for a connection error.
        """
        if status is not None and not self.is_retryable_status(status):
            return None
        if attempt >= self.attempts:
            return None
        wait: float = min(self.backoff * 2.0 ** (attempt - 1), self.max_backoff)
        if status is not None:
            asked = parse_retry_after(retry_after, now=now)
            if asked is not None:
                wait = max(wait, min(asked, self.max_retry_after))
        if elapsed + wait > self.total:
            return None
        return wait


def describe_connection_error(exc: BaseException) -> str:
    """A short, secret-free reason for a failed connection ("Connection refused")."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS certificate verification failed"
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text or "wrong version number" in text:
        return "TLS handshake failed (does it speak plain http?)"
    if isinstance(exc, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        return "timed out waiting for an answer"
    if match := _ERRNO_REASON.search(text):
        return match.group(1).strip()
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection closed by the server"
    return type(exc).__name__


# -- the whole-request deadline ------------------------------------------------------------

#: Bodies larger than a manifest earn extra time at this rate: a blob of N bytes may take
#: ``timeout + N / MIN_TRANSFER_RATE`` seconds, so that a slow but steady link finishes
#: while a server that drips a byte at a time does not hold a request open for ever.
MIN_TRANSFER_RATE = 64 * 1024  # bytes per second


class RequestDeadline:
    """The time a request (connect, send, every read of headers and body) must end by.

    Socket timeouts bound each read alone: a server that sends one byte every few
    seconds would never trip them. The :class:`_Watchdog` shuts down the connections of
    a request whose deadline passed, which ends any read in progress at once; the reader
    then sees :attr:`expired` and reports a timeout.
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.end = clock() + seconds
        self.expired = False
        self._clock = clock
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def allow(self, nbytes: int) -> None:
        """More time for ``nbytes`` moved (see :data:`MIN_TRANSFER_RATE`)."""
        self.end += nbytes / MIN_TRANSFER_RATE

    def remaining(self) -> float:
        return self.end - self._clock()

    def attach(self, connection: Any) -> None:
        with self._lock:
            self._connections.append(connection)
            expired = self.expired
        if expired:
            _shut_down(connection)

    def detach(self, connection: Any) -> None:
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            _shut_down(connection)


def _shut_down(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        # socket.socket's own shutdown, also for a TLS socket: it wakes a reader blocked
        # in another thread without touching the TLS object that thread is using.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread that expires :class:`RequestDeadline` s when their time is up."""

    def __init__(self) -> None:
        self._deadlines: set[RequestDeadline] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: RequestDeadline) -> None:
        with self._wake:
            self._deadlines.add(deadline)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="repro-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def unwatch(self, deadline: RequestDeadline) -> None:
        with self._wake:
            self._deadlines.discard(deadline)

    def _run(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = [d for d in self._deadlines if d.end <= now]
                self._deadlines.difference_update(due)
                upcoming = min((d.end for d in self._deadlines), default=None)
                if not due:
                    self._wake.wait(None if upcoming is None else max(upcoming - now, 0.01))
                    continue
            for deadline in due:
                deadline.expire()


_WATCHDOG = _Watchdog()
_current = threading.local()


def _deadline_of_this_thread() -> RequestDeadline | None:
    deadline: RequestDeadline | None = getattr(_current, "deadline", None)
    return deadline


class _DeadlinePoolMixin:
    """Attaches each connection taken from the pool to the deadline of the request taking it."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        deadline = _deadline_of_this_thread()
        if deadline is not None:
            connection.repro_deadline = deadline
            deadline.attach(connection)
        return connection

    def _put_conn(self, conn: Any) -> None:
        deadline = getattr(conn, "repro_deadline", None)
        if deadline is not None:
            conn.repro_deadline = None
            deadline.detach(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class _HTTPPool(_DeadlinePoolMixin, urllib3.HTTPConnectionPool):
    pass


class _HTTPSPool(_DeadlinePoolMixin, urllib3.HTTPSConnectionPool):
    pass


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter with pools whose connections obey :class:`RequestDeadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # HTTP(S)_PROXY requests go through a separate urllib3 ProxyManager, whose pools
        # would otherwise be plain ones that only time out per read.
        if proxy.lower().startswith("socks"):
            raise ConfigError(
                f"proxy {redact_url(proxy)}: SOCKS proxies are not supported",
                hint="use an HTTP(S) proxy in HTTP_PROXY/HTTPS_PROXY, or unset ALL_PROXY",
            )
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager


class _NoAuth(requests.auth.AuthBase):
    """Keeps requests from adding credentials of its own (from ~/.netrc)."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class Transport:
    """Sends requests to registries (and their token servers and storage redirects)."""

    def __init__(
        self,
        config: Config,
        *,
        policy: RetryPolicy | None = None,
        user_agent: str = USER_AGENT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self.user_agent = user_agent
        self._sleep = sleep
        self._clock = clock
        self._sessions: dict[str, requests.Session] = {}
        self._lock = threading.Lock()

    # -- configuration ------------------------------------------------------------------

    def is_insecure(self, domain: str) -> bool:
        return self.config.registry(domain).insecure

    def url(self, domain: str, path: str, query: Mapping[str, str] | None = None) -> str:
        """The URL of API ``path`` on registry ``domain``, with its configured scheme."""
        return registry_url(domain, path, insecure=self.is_insecure(domain), query=query)

    def _verify_for(self, domain: str, url: str) -> bool | str:
        netloc = urlsplit(url).netloc.lower()
        for host in (netloc, domain):
            ca_file = self.config.registry(host).ca_file
            if ca_file is not None:
                if not ca_file.is_file():
                    raise ConfigError(f'registries."{host}".ca_file: {ca_file} is not a file')
                return str(ca_file)
        return True

    def _check_scheme(self, domain: str, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "https":
            return
        if parts.scheme != "http":
            raise RegistryError(f"{domain}: refusing URL with scheme {parts.scheme!r}: {redact_url(url)}")
        # Plain http: only for insecure registries, and for servers on the same host as one
        # (a token server on another port of a local registry).
        same_host = parts.hostname == urlsplit(f"//{api_host(domain)}").hostname
        if self.is_insecure(parts.netloc.lower()) or (same_host and self.is_insecure(domain)):
            return
        raise RegistryError(
            f"{domain}: refusing plain http to {parts.netloc}",
            hint=f'set insecure = true under [registries."{parts.netloc}"] if it really speaks only http',
        )

    def session(self, netloc: str) -> requests.Session:
        """The pooled session for one host, created on first use."""
        with self._lock:
            session = self._sessions.get(netloc)
            if session is None:
                session = requests.Session()
                session.auth = _NoAuth()
                session.headers["User-Agent"] = self.user_agent
                # Digests are over the bytes as stored: no transparent decompression.
                session.headers["Accept-Encoding"] = "identity"
                pool = max(self.config.registry(netloc).max_concurrency, 4)
                adapter = _DeadlineAdapter(pool_connections=2, pool_maxsize=pool, max_retries=0)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._sessions[netloc] = session
            return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    # -- sending ------------------------------------------------------------------------

    def send(
        self,
        domain: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Body | None = None,
        authorization: str | None = None,
    ) -> requests.Response:
        """Send one request, retrying transient failures; return the final response.

        The response is streamed: its body is unread, and the caller must close it. The
        ``authorization`` header goes only to ``url``'s origin, never to a redirect target
        elsewhere. A response with a retryable status is returned once retries run out.
        """
        start = self._clock()
        deadline = RequestDeadline(self.config.timeout)
        if data is not None:
            deadline.allow(len(data))
        _WATCHDOG.watch(deadline)
        attempt = 0
        while True:
            attempt += 1
            try:
                _current.deadline = deadline
                try:
                    response = self._send_following_redirects(
                        domain,
                        method=method,
                        url=url,
                        headers=headers,
                        data=data,
                        authorization=authorization,
                    )
                finally:
                    _current.deadline = None
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                if deadline.expired:
                    _WATCHDOG.unwatch(deadline)
                    raise _timed_out(domain, deadline, "waiting for the answer") from exc
                if not isinstance(exc, requests.RequestException):
                    raise RegistryError(f"{domain}: invalid answer: {type(exc).__name__}") from exc
                self._retry_or_raise(
                    exc,
                    domain=domain,
                    what=f"{method} {redact_url(url)}",
                    attempt=attempt,
                    start=start,
                    deadline=deadline,
                )
                continue
            if deadline.expired:
                response.close()
                raise _timed_out(domain, deadline, "waiting for the answer")
            if self.policy.is_retryable_status(response.status_code):
                delay = self.policy.delay(
                    attempt,
                    status=response.status_code,
                    retry_after=response.headers.get("Retry-After"),
                    elapsed=self._clock() - start,
                )
                if delay is not None and delay < deadline.remaining():
                    response.close()
                    logger.debug(
                        "%s %s: status %d; retrying in %.2f s",
                        method,
                        redact_url(url),
                        response.status_code,
                        delay,
                    )
                    self._sleep(delay)
                    continue
            _BODY_DEADLINES[response] = deadline
            return response

    def _retry_or_raise(
        self,
        exc: requests.RequestException,
        *,
        domain: str,
        what: str,
        attempt: int,
        start: float,
        deadline: RequestDeadline,
    ) -> None:
        """Sleep before the next attempt after a failed one, or raise the error it deserves."""
        if isinstance(exc, requests.exceptions.SSLError):
            _WATCHDOG.unwatch(deadline)
            # Certificate problems do not go away by trying again.
            kind = connection_failure_kind(exc)
            raise RegistryUnreachableError(
                f"{domain}: {describe_connection_error(exc)}",
                hint=unreachable_hint(
                    "tls" if kind not in ("tls-untrusted", "tls-plain-http") else kind, domain
                ),
            ) from exc
        if not isinstance(exc, requests.ConnectionError | requests.Timeout):
            _WATCHDOG.unwatch(deadline)
            raise RegistryError(f"{domain}: invalid request or answer: {type(exc).__name__}") from exc
        reason = describe_connection_error(exc)
        delay = self.policy.delay(attempt, status=None, retry_after=None, elapsed=self._clock() - start)
        if delay is None or delay >= deadline.remaining():
            _WATCHDOG.unwatch(deadline)
            kind = connection_failure_kind(exc)
            raise RegistryUnreachableError(
                f"{domain}: cannot reach {api_host(domain)}: {KINDS[kind]}"
                + (f" ({reason})" if reason.lower() not in KINDS[kind].lower() else "")
                + f" (after {attempt} attempts)",
                hint=unreachable_hint(kind, domain, timeout=self.config.timeout),
            ) from exc
        logger.debug("%s: %s; retrying in %.2f s", what, reason, delay)
        self._sleep(delay)

    def _send_following_redirects(
        self,
        domain: str,
        *,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        data: Body | None,
        authorization: str | None,
    ) -> requests.Response:
        auth_origin = origin(url)
        timeout = (min(self.config.timeout, MAX_CONNECT_TIMEOUT), self.config.timeout)
        for _ in range(MAX_REDIRECTS + 1):
            checked_url(url)
            self._check_scheme(domain, url)
            request_headers = dict(headers or {})
            if isinstance(data, StreamBody):
                data.rewind()
            if authorization is not None and origin(url) == auth_origin:
                request_headers["Authorization"] = authorization
            netloc = urlsplit(url).netloc.lower()
            started = time.perf_counter()
            response = self.session(netloc).request(
                method,
                url,
                headers=request_headers,
                data=data,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                verify=self._verify_for(domain, url),
            )
            logger.debug(
                "%s %s -> %d (%.0f ms)",
                method,
                redact_url(url),
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            response.close()
            url = join_url(url, location, "redirect Location")
            if response.status_code == 303 and method != "HEAD":
                method, data = "GET", None
        raise RegistryError(f"{domain}: more than {MAX_REDIRECTS} redirects for {method} {redact_url(url)}")


# -- reading bodies ---------------------------------------------------------------------


def iter_body(response: requests.Response, domain: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The raw body in chunks (no content decoding), with read failures as registry errors."""
    received = 0
    deadline = _BODY_DEADLINES.get(response)
    try:
        for chunk in response.raw.stream(chunk_size, decode_content=False):
            received += len(chunk)
            if deadline is not None:
                if deadline.expired:
                    raise _timed_out(domain, deadline, f"reading the answer ({received} bytes received)")
                deadline.allow(len(chunk))
            yield chunk
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        if deadline is not None and deadline.expired:
            raise _timed_out(domain, deadline, f"reading the answer ({received} bytes received)") from exc
        _raise_read_error(exc, domain, received)
    finally:
        if deadline is not None:
            _WATCHDOG.unwatch(deadline)
    if deadline is not None and deadline.expired:
        # The shut-down connection can look like the end of a body framed by closing.
        raise _timed_out(domain, deadline, f"reading the answer ({received} bytes received)")


def _raise_read_error(exc: BaseException, domain: str, received: int) -> NoReturn:
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        raise RegistryUnreachableError(
            f"{domain}: timed out reading the answer after {received} bytes"
        ) from exc
    # IncompleteRead (truncated body) and dropped connections land here.
    raise RegistryUnreachableError(
        f"{domain}: connection lost after {received} bytes of the answer ({describe_connection_error(exc)})"
    ) from exc


def _timed_out(domain: str, deadline: RequestDeadline, doing: str) -> RegistryUnreachableError:
    return RegistryUnreachableError(
        f"{domain}: timed out after {deadline.seconds:g} s {doing}",
        hint="the registry answers too slowly; REPRO_TIMEOUT (or timeout in the configuration) "
        "bounds each whole request, connect to last byte",
    )


# Which deadline a streamed response's body is read under (until the response is gone).
_BODY_DEADLINES: weakref.WeakKeyDictionary[requests.Response, RequestDeadline] = weakref.WeakKeyDictionary()


def read_body(response: requests.Response, domain: str, limit: int) -> bytes:
    """The raw body, but never more than ``limit + 1`` bytes whatever the server claims.

    A result longer than ``limit`` means the body was too large; the caller decides
    which error that is.
    """
    parts: list[bytes] = []
    received = 0
    for chunk in iter_body(response, domain, min(CHUNK_SIZE, limit + 1)):
        parts.append(chunk)
        received += len(chunk)
        if received > limit:
            break
    return b"".join(parts)[: limit + 1]
