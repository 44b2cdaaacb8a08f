"""A loopback HTTP proxy in front of a real registry that misbehaves when a test asks it to.

:class:`FaultProxy` forwards every request to the registry behind it, streaming bodies
both ways in bounded memory, and rewrites ``Location`` headers that point at the
registry so that clients stay on the proxy. A test adds :class:`Rule` s at run time; a
rule matches a path pattern (``re.search`` on the path, without the query) and
optionally a set of methods, and applies one :data:`Effect` to the matching requests::

    with FaultProxy(registry.url) as proxy:
        proxy.add(Status(503), path=r"/manifests/", times=2)   # 503 twice, then pass
        proxy.add(WrongDigest(), path=r"/manifests/latest$", methods=("GET", "HEAD"))
        client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))
        assert proxy.count("HEAD", r"/manifests/latest$") == 3

Several :class:`Latency` and :class:`Hook` rules may apply to one request; of the
other rules only the first that matches does. The proxy counts requests and the body
bytes it sent per path, so tests can assert retries and how much a client read.

:class:`RedirectTarget` is a second tiny server (on ``127.0.0.2`` when the system routes
it, a different host from the registry's ``127.0.0.1``) that serves what a
:class:`Redirect` hands it and records the headers of every request it receives.

This is test equipment: it trusts its configuration and speaks just enough HTTP/1.1
for registry clients (Content-Length and chunked bodies, keep-alive).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Literal
from urllib.parse import urlsplit, urlunsplit

CHUNK = 64 * 1024
MIB = 1024 * 1024
UPSTREAM_TIMEOUT = 60.0
# Headers that describe one hop, not the message: never forwarded as received.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "expect",  # answered by this proxy (100-continue), not passed on
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


# -- effects -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Wait ``seconds`` before handling the request (combines with any other effect)."""

    seconds: float


@dataclass(frozen=True)
class Hook:
    """Call ``callback`` with the request before handling it (combines with other effects).

    The callback runs on the proxy's handler thread; it may, say, kill the registry.
    """

    callback: Callable[[SeenRequest], None]


@dataclass(frozen=True)
class WrongDigest:
    """Forward, but replace (or add) ``Docker-Content-Digest`` with a wrong digest."""

    digest: str = "sha256:" + hashlib.sha256(b"not what you asked for").hexdigest()


@dataclass(frozen=True)
class AlterBody:
    """Forward, changing the body at ``offset``.

    With ``insert`` empty, the byte at ``offset`` is flipped (the length is unchanged).
    Otherwise ``insert`` is spliced in at ``offset``: with ``fix_length`` the
    ``Content-Length`` grows to match; without it the declared length is kept and the
    body is cut to it (so the tail is lost and the framing stays valid).
    """

    offset: int = 0
    insert: bytes = b""
    fix_length: bool = True


@dataclass(frozen=True)
class Truncate:
    """Forward the headers (with the full ``Content-Length``), then ``after`` bytes, then hang up."""

    after: int = 1024


@dataclass(frozen=True)
class Drip:
    """Forward, but send the answer's ``part`` (``headers`` or ``body``) one byte every
    ``interval`` seconds: every read succeeds, yet the answer never completes. The
    proxy gives up after ``limit`` seconds (or when the client hangs up)."""

    interval: float = 2.0
    part: Literal["headers", "body"] = "headers"
    limit: float = 120.0


@dataclass(frozen=True)
class Oversize:
    """Answer 200 with a valid-looking manifest of ``size`` bytes instead of forwarding.

    ``framing`` is how the body's end is announced: ``length`` (Content-Length),
    ``chunked`` (Transfer-Encoding) or ``close`` (neither: the body ends when the
    connection does). The ``Docker-Content-Digest`` header is the body's true digest, so
    only the size is wrong. ``size=None`` streams without end (until the client hangs
    up or :data:`ENDLESS_CAP` bytes), which only ``chunked`` and ``close`` can frame.
    """

    size: int | None = 5 * MIB
    framing: Literal["length", "chunked", "close"] = "length"
    content_type: str = OCI_MANIFEST


ENDLESS_CAP = 1024 * MIB


@dataclass(frozen=True)
class Respond:
    """Answer with exactly this status, headers and body instead of forwarding."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Status:
    """Answer ``status`` (with ``Retry-After`` when given) instead of forwarding."""

    status: int = 503
    retry_after: str | None = None


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without answering."""


@dataclass(frozen=True)
class Redirect:
    """Forward; on a 2xx answer, hand the body to ``target`` and answer ``status`` to it.

    A non-2xx answer (a 401 challenge, say) is passed through unchanged.
    """

    target: RedirectTarget
    status: int = 307


Effect = (
    Latency | Hook | WrongDigest | AlterBody | Truncate | Drip | Oversize | Respond | Status | Drop | Redirect
)
_COMBINING = (Latency, Hook)


@dataclass
class Rule:
    """An effect for requests whose path matches ``path`` (and whose method is in ``methods``).

    The first ``skip`` matching requests pass untouched; then the effect applies to the
    next ``times`` of them (every one when None); after that they pass untouched again.
    """

    effect: Effect
    path: str = ""
    methods: frozenset[str] | None = None
    times: int | None = None
    skip: int = 0
    applied: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.methods is None or method in self.methods) and self._pattern.search(path) is not None

    def take(self) -> bool:
        """Count one matching request; whether the effect applies to it (caller holds the lock)."""
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.times is not None and self.applied >= self.times:
            return False
        self.applied += 1
        return True


@dataclass(frozen=True)
class SeenRequest:
    """A request as the proxy (or redirect target) received it."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    at: float


# -- the proxy -----------------------------------------------------------------------------


class FaultProxy:
    """A threaded proxy on 127.0.0.1 in front of ``upstream`` (``http(s)://host:port``)."""

    def __init__(self, upstream: str, *, ca_file: Path | str | None = None, bind: str = "127.0.0.1") -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be http(s)://host:port, got {upstream!r}")
        self.upstream_scheme = parts.scheme
        self.upstream_netloc = parts.netloc
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._seen: list[SeenRequest] = []
        self._bytes: dict[str, int] = {}
        self._server = _Server((bind, 0), _ProxyHandler, self)
        self.port: int = self._server.server_address[1]
        self.host = f"{bind}:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fault-proxy-{self.port}", daemon=True
        )
        self._thread.start()

    # -- configuration --

    def add(
        self,
        effect: Effect,
        *,
        path: str = "",
        methods: Sequence[str] | None = None,
        times: int | None = None,
        skip: int = 0,
    ) -> Rule:
        """Apply ``effect`` to requests matching ``path`` (a regular expression) and ``methods``."""
        rule = Rule(
            effect,
            path=path,
            methods=frozenset(m.upper() for m in methods) if methods is not None else None,
            times=times,
            skip=skip,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: Rule) -> None:
        with self._lock:
            self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule (counts are kept; see :meth:`reset`)."""
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        """Remove every rule and forget every request and byte count."""
        with self._lock:
            self._rules.clear()
            self._seen.clear()
            self._bytes.clear()

    # -- observations --

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._seen)

    def count(self, method: str | None = None, path: str = "") -> int:
        """How many requests with ``method`` (any when None) had a path matching ``path``."""
        pattern = re.compile(path)
        return sum(
            1
            for seen in self.requests
            if (method is None or seen.method == method.upper()) and pattern.search(seen.path)
        )

    def bytes_sent(self, path: str = "") -> int:
        """Response body bytes written to clients for paths matching ``path``."""
        pattern = re.compile(path)
        with self._lock:
            return sum(n for p, n in self._bytes.items() if pattern.search(p))

    # -- life cycle --

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- used by the handler --

    def _record(self, seen: SeenRequest) -> tuple[list[Effect], Effect | None]:
        """Log the request; the combining effects and the one other effect for it."""
        combining: list[Effect] = []
        main: Effect | None = None
        with self._lock:
            self._seen.append(seen)
            for rule in self._rules:
                if not rule.matches(seen.method, seen.path):
                    continue
                is_combining = isinstance(rule.effect, _COMBINING)
                if not is_combining and main is not None:
                    continue
                if not rule.take():
                    continue
                if is_combining:
                    combining.append(rule.effect)
                else:
                    main = rule.effect
        return combining, main

    def _count_bytes(self, path: str, n: int) -> None:
        with self._lock:
            self._bytes[path] = self._bytes.get(path, 0) + n

    def _connect(self) -> http.client.HTTPConnection:
        # One upstream connection per request: a registry restarted by a test leaves no
        # stale pooled connection behind.
        if self.upstream_scheme == "https":
            return http.client.HTTPSConnection(
                self._upstream_host, self._upstream_port, timeout=UPSTREAM_TIMEOUT, context=self._ssl
            )
        return http.client.HTTPConnection(self._upstream_host, self._upstream_port, timeout=UPSTREAM_TIMEOUT)

    def _rewrite_location(self, value: str) -> str:
        parts = urlsplit(value)
        if parts.netloc.lower() == self.upstream_netloc.lower():
            return urlunsplit(("http", self.host, parts.path, parts.query, parts.fragment))
        return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: FaultProxy
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client hanging up mid-answer is what many tests provoke; stay quiet.
        pass


class _ClientGoneError(Exception):
    """The client closed its connection while the proxy was writing."""


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; with Nagle's algorithm the second
        # waits for the client's delayed ACK (40 ms), which would swamp any latency rule.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # -- request side --

    def _handle(self) -> None:
        proxy = self.server.owner
        parts = urlsplit(self.path)
        seen = SeenRequest(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers=dict(self.headers.items()),
            at=time.monotonic(),
        )
        combining, main = proxy._record(seen)
        for effect in combining:
            if isinstance(effect, Latency):
                time.sleep(effect.seconds)
            elif isinstance(effect, Hook):
                effect.callback(seen)
        try:
            if isinstance(main, Drop | Status | Respond | Oversize):
                self._drain_request_body()
                if isinstance(main, Drop):
                    self._hang_up()
                elif isinstance(main, Status):
                    headers = {"Retry-After": main.retry_after} if main.retry_after is not None else {}
                    body = json.dumps(
                        {"errors": [{"code": "UNAVAILABLE", "message": f"injected status {main.status}"}]}
                    ).encode()
                    self._send_simple(main.status, body, {"Content-Type": "application/json", **headers})
                elif isinstance(main, Respond):
                    self._send_simple(main.status, main.body, main.headers)
                else:
                    self._send_oversize(main, parts.path)
                return
            self._forward(parts.path, main)
        except _ClientGoneError:
            self.close_connection = True

    def _request_body(self) -> Iterator[bytes]:
        """The request body in pieces, de-chunked when it was sent chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining:
                    piece = self.rfile.read(min(CHUNK, remaining))
                    if not piece:
                        return
                    remaining -= len(piece)
                    yield piece
                self.rfile.readline(16)
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            piece = self.rfile.read(min(CHUNK, length))
            if not piece:
                return
            length -= len(piece)
            yield piece

    def _drain_request_body(self) -> None:
        for _ in self._request_body():
            pass

    # -- response side --

    def _write(self, data: bytes, path: str | None = None) -> None:
        try:
            self.wfile.write(data)
        except OSError as exc:
            raise _ClientGoneError from exc
        if path is not None:
            self.server.owner._count_bytes(path, len(data))

    def _start(self, status: int, headers: Sequence[tuple[str, str]], reason: str | None = None) -> None:
        try:
            self.send_response_only(status, reason)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
        except OSError as exc:
            raise _ClientGoneError from exc

    def _drip(self, data: bytes, effect: Drip, path: str | None = None) -> None:
        """Send ``data`` a byte at a time, ``effect.interval`` apart, then hang up."""
        give_up = time.monotonic() + effect.limit
        for index in range(len(data)):
            self._write(data[index : index + 1], path)
            with contextlib.suppress(OSError):
                self.wfile.flush()
            if time.monotonic() > give_up:
                break
            time.sleep(effect.interval)
        self._hang_up()

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_simple(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        names = {k.lower() for k in headers}
        out = list(headers.items())
        if "content-length" not in names:
            out.append(("Content-Length", str(len(body))))
        self._start(status, out)
        if self.command != "HEAD":
            self._write(body, self.path.split("?", 1)[0])

    def _send_oversize(self, effect: Oversize, path: str) -> None:
        if effect.size is None and effect.framing == "length":
            raise ValueError("an endless body cannot have a Content-Length")
        size = effect.size if effect.size is not None else ENDLESS_CAP
        prefix = (
            b'{"schemaVersion":2,"mediaType":"' + effect.content_type.encode() + b'","annotations":{"pad":"'
        )
        suffix = b'"}}'
        pad = size - len(prefix) - len(suffix)
        headers = [("Content-Type", effect.content_type)]
        if effect.size is not None:
            digest = hashlib.sha256(prefix)
            filler = b" " * CHUNK
            left = pad
            while left > 0:
                digest.update(filler[: min(left, CHUNK)])
                left -= CHUNK
            digest.update(suffix)
            headers.append(("Docker-Content-Digest", "sha256:" + digest.hexdigest()))
        if effect.framing == "length":
            headers.append(("Content-Length", str(size)))
        elif effect.framing == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Connection", "close"))
            self.close_connection = True
        self._start(200, headers)
        if self.command == "HEAD":
            return
        chunked = effect.framing == "chunked"

        def emit(data: bytes) -> None:
            if chunked:
                self._write(b"%x\r\n" % len(data))
                self._write(data, path)
                self._write(b"\r\n")
            else:
                self._write(data, path)

        emit(prefix)
        filler = b" " * CHUNK
        left = pad
        while left > 0:
            emit(filler[: min(left, CHUNK)])
            left -= CHUNK
        emit(suffix)
        if chunked:
            self._write(b"0\r\n\r\n")
        if effect.framing == "close":
            self._hang_up()

    def _forward(self, path: str, effect: Effect | None) -> None:
        proxy = self.server.owner
        upstream = proxy._connect()
        try:
            try:
                response = self._send_upstream(upstream)
            except OSError as exc:
                # What a reverse proxy answers when the registry is down (or went down).
                body = f"upstream {proxy.upstream_netloc} failed: {type(exc).__name__}\n".encode()
                self._send_simple(502, body, {"Content-Type": "text/plain"})
                return
            if isinstance(effect, Redirect) and 200 <= response.status < 300 and self.command == "GET":
                location = effect.target.store(response)
                self._send_simple(effect.status, b"", {"Location": location})
                return
            self._relay(response, path, effect)
        finally:
            upstream.close()

    def _send_upstream(self, upstream: http.client.HTTPConnection) -> http.client.HTTPResponse:
        proxy = self.server.owner
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            lower = name.lower()
            if lower in _HOP_BY_HOP:
                continue
            upstream.putheader(name, proxy.upstream_netloc if lower == "host" else value)
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        upstream.endheaders()
        for piece in self._request_body():
            upstream.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            upstream.send(b"0\r\n\r\n")
        return upstream.getresponse()

    def _relay(self, response: http.client.HTTPResponse, path: str, effect: Effect | None) -> None:
        proxy = self.server.owner
        headers: list[tuple[str, str]] = []
        length: int | None = None
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in _HOP_BY_HOP:
                continue
            if lower == "content-length":
                length = int(value)
                continue
            if lower == "docker-content-digest" and isinstance(effect, WrongDigest):
                continue
            headers.append((name, proxy._rewrite_location(value) if lower == "location" else value))
        if isinstance(effect, WrongDigest):
            headers.append(("Docker-Content-Digest", effect.digest))

        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        declared = length
        if isinstance(effect, AlterBody) and effect.insert and effect.fix_length and length is not None:
            declared = length + len(effect.insert)
        if declared is not None:
            headers.append(("Content-Length", str(declared)))
        elif not no_body:
            headers.append(("Transfer-Encoding", "chunked"))
        if isinstance(effect, Drip) and effect.part == "headers":
            lines = [f"{self.protocol_version} {response.status} {response.reason}"]
            lines += [f"{name}: {value}" for name, value in headers]
            self._drip("\r\n".join([*lines, "", ""]).encode("latin-1"), effect)
            return
        self._start(response.status, headers, response.reason)
        if no_body:
            return
        if isinstance(effect, Drip):
            self._drip(response.read(), effect, path)
            return

        chunked = declared is None
        sent = 0
        cut = effect.after if isinstance(effect, Truncate) else None
        body = _altered(response, effect) if isinstance(effect, AlterBody) else _pieces(response)
        for received in body:
            piece = received if declared is None else received[: max(declared - sent, 0)]
            if cut is not None and sent + len(piece) >= cut:
                self._write(piece[: cut - sent], path)
                self._hang_up()
                return
            if chunked:
                self._write(b"%x\r\n" % len(piece))
                self._write(piece, path)
                self._write(b"\r\n")
            else:
                self._write(piece, path)
            sent += len(piece)
            if declared is not None and sent >= declared:
                break
        if cut is not None:
            self._hang_up()
            return
        if chunked:
            self._write(b"0\r\n\r\n")


def _pieces(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while piece := response.read(CHUNK):
        yield piece


def _altered(response: http.client.HTTPResponse, effect: AlterBody) -> Iterator[bytes]:
    position = 0
    for piece in _pieces(response):
        end = position + len(piece)
        at = effect.offset - position
        if 0 <= at < len(piece) and effect.insert:
            yield piece[:at] + effect.insert + piece[at:]
        elif 0 <= at < len(piece):
            yield piece[:at] + bytes([piece[at] ^ 0xFF]) + piece[at + 1 :]
        else:
            yield piece
        position = end


# -- the redirect target -------------------------------------------------------------------


def _other_loopback() -> str:
    """127.0.0.2 where it can be bound (Linux routes all of 127/8 to lo), else 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.2", 0))
        except OSError:
            return "127.0.0.1"
    return "127.0.0.2"


class RedirectTarget:
    """A tiny "storage host": serves bodies a :class:`Redirect` stored; records every request.

    Set ``corrupt`` to have it flip the first byte of everything it serves.
    """

    def __init__(self, bind: str | None = None, *, corrupt: bool = False) -> None:
        self.corrupt = corrupt
        self._dir = Path(tempfile.mkdtemp(prefix="repro-redirect-"))
        self._lock = threading.Lock()
        self._seen: list[SeenRequest] = []
        self._files: dict[str, Path] = {}
        address = bind or _other_loopback()
        self._server = _TargetServer((address, 0), _TargetHandler, self)
        self.port: int = self._server.server_address[1]
        self.host = f"{address}:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"redirect-target-{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._seen)

    def received_authorization(self) -> bool:
        """Whether any request that reached this host carried an ``Authorization`` header."""
        return any("authorization" in {k.lower() for k in r.headers} for r in self.requests)

    def store(self, source: IO[bytes]) -> str:
        """Copy ``source`` to a new file and return the URL that serves it."""
        name = secrets.token_hex(8)
        path = self._dir / name
        with path.open("wb") as fh:
            shutil.copyfileobj(source, fh, CHUNK)
        with self._lock:
            self._files[name] = path
        return f"{self.url}/storage/{name}?signature={secrets.token_hex(8)}"

    def _record(self, seen: SeenRequest) -> Path | None:
        with self._lock:
            self._seen.append(seen)
            return self._files.get(seen.path.rsplit("/", 1)[-1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedirectTarget:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _TargetServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: RedirectTarget
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class _TargetHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TargetServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        seen = SeenRequest(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers=dict(self.headers.items()),
            at=time.monotonic(),
        )
        path = self.server.owner._record(seen)
        if path is None:
            self.send_response_only(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response_only(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        if self.command == "HEAD":
            return
        with path.open("rb") as fh, contextlib.suppress(OSError):
            first = fh.read(CHUNK)
            if first and self.server.owner.corrupt:
                first = bytes([first[0] ^ 0xFF]) + first[1:]
            self.wfile.write(first)
            shutil.copyfileobj(fh, self.wfile, CHUNK)
