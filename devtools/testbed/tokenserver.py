"""A small Docker token server (the registry's ``auth.token`` realm) for integration tests.

It speaks the two forms of the Docker token protocol that clients use:

- ``GET /token?service=S&scope=repository:NAME:pull,push`` with optional Basic auth;
- ``POST /token`` (OAuth2 form): ``grant_type=password`` with username/password, or
  ``grant_type=refresh_token`` with a refresh ("identity") token.

Access is granted per user and repository from a table (``add_user``); requested actions
are intersected with granted ones, as real token servers do. Tokens are ES256 JWTs whose
header carries both an ``x5c`` chain and the libtrust ``kid`` of the signing key, whose
self-signed certificate is the registry's ``rootcertbundle``. Every request is recorded
(``requests``, ``count(scope)``) so tests can assert that a client caches its tokens.

    >>> server = TokenServer.start(tmp_dir)                        # doctest: +SKIP
    >>> server.add_user("alice", "pw", {"alice/*": ("pull", "push")})  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVICE = "repro-testbed-registry"
ISSUER = "repro-testbed-token-server"
DEFAULT_EXPIRES_IN = 300


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key ID Distribution (libtrust) derives from a public key.

    base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in 12 groups of 4
    characters joined by ':'.
    """
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass(frozen=True)
class TokenRequest:
    """One request the token server answered (or refused)."""

    method: str  # "GET" or "POST"
    grant_type: str  # "basic" (GET with credentials), "anonymous", "password", "refresh_token"
    username: str | None
    scopes: tuple[str, ...]  # as requested, e.g. ("repository:busybox:pull",)
    status: int  # HTTP status the server answered with


@dataclass
class _User:
    password: str
    grants: dict[str, frozenset[str]]  # repository name pattern (fnmatch) -> actions
    catalog: bool


@dataclass
class TokenServer:
    """A threaded token server on 127.0.0.1; create with :meth:`start`, end with :meth:`stop`."""

    port: int
    cert_file: Path
    service: str = SERVICE
    issuer: str = ISSUER
    expires_in: int = DEFAULT_EXPIRES_IN  # seconds; tests may shorten it
    # How the JWT header names the signing key: Distribution accepts either form.
    key_header: Literal["x5c+kid", "x5c", "kid"] = "x5c+kid"
    requests: list[TokenRequest] = field(default_factory=list)
    # Actions granted without credentials, by repository pattern (empty: anonymous gets nothing).
    anonymous: dict[str, frozenset[str]] = field(default_factory=dict)
    _key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    _cert: x509.Certificate | None = field(default=None, repr=False)
    _users: dict[str, _User] = field(default_factory=dict, repr=False)
    _refresh_tokens: dict[str, str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _httpd: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    @property
    def key_id(self) -> str:
        assert self._key is not None
        return libtrust_key_id(self._key.public_key())

    @classmethod
    def start(cls, directory: Path) -> TokenServer:
        """Make a signing key and certificate in ``directory`` and serve on a free port."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_file = directory / "token-signer.crt"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

        server = cls(port=0, cert_file=cert_file, _key=key, _cert=cert)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(server))
        httpd.daemon_threads = True
        server._httpd = httpd
        server.port = httpd.server_address[1]
        server._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="token-server", daemon=True
        )
        server._thread.start()
        return server

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    # -- the grant table --------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str,
        grants: Mapping[str, Iterable[str]],
        *,
        catalog: bool = False,
    ) -> None:
        """Allow ``username`` the actions in ``grants`` ({repository pattern: actions}).

        Patterns use fnmatch (``"*"``, ``"team/*"``); ``catalog`` grants
        ``registry:catalog:*``. Adding an existing user replaces it.
        """
        with self._lock:
            self._users[username] = _User(
                password=password,
                grants={pattern: frozenset(actions) for pattern, actions in grants.items()},
                catalog=catalog,
            )

    def issue_refresh_token(self, username: str) -> str:
        """A refresh (identity) token for ``username``, as ``access_type=offline`` gives."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = username
        return token

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh_tokens.clear()

    # -- observations ------------------------------------------------------------------------

    def count(self, scope: str | None = None) -> int:
        """How many token requests were answered with 200, all or those asking ``scope``."""
        with self._lock:
            return sum(1 for r in self.requests if r.status == 200 and (scope is None or scope in r.scopes))

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- the protocol ------------------------------------------------------------------------

    def _authenticate(self, username: str, password: str) -> bool:
        with self._lock:
            user = self._users.get(username)
        return user is not None and secrets.compare_digest(user.password, password)

    def _granted(self, username: str | None, scope: str) -> dict[str, Any] | None:
        """The ``access`` entry for one requested scope, or None if nothing is granted."""
        parts = scope.split(":")
        if len(parts) < 3:
            return None
        # Repository names never contain ':', but a registry host with a port may appear.
        resource_type, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
        requested = {a for a in actions.split(",") if a}
        with self._lock:
            user = self._users.get(username) if username is not None else None
            if resource_type == "registry" and name == "catalog":
                allowed: set[str] = {"*"} if user is not None and user.catalog else set()
            elif resource_type == "repository":
                table = user.grants if user is not None else self.anonymous
                allowed = set()
                for pattern, pattern_actions in table.items():
                    if fnmatch.fnmatchcase(name, pattern):
                        allowed |= pattern_actions
                if "*" in allowed:
                    allowed |= {"pull", "push", "delete"}
            else:
                allowed = set()
        given = sorted(requested & allowed)
        if not given:
            return None
        return {"type": resource_type, "name": name, "actions": given}

    def issue(self, username: str | None, scopes: Iterable[str], *, service: str | None = None) -> str:
        """A signed registry token for ``username`` holding the granted part of ``scopes``."""
        assert self._key is not None
        assert self._cert is not None
        access = [entry for scope in scopes if (entry := self._granted(username, scope)) is not None]
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": username or "",
            "aud": service or self.service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        headers: dict[str, Any] = {}
        if "kid" in self.key_header:
            headers["kid"] = self.key_id
        if "x5c" in self.key_header:
            headers["x5c"] = [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()]
        token: str = jwt.encode(claims, self._key, algorithm="ES256", headers=headers)
        return token

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _handler_for(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; requests are recorded on the server

        def _reply(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _token_body(self, username: str | None, scopes: list[str], service: str | None) -> dict[str, Any]:
            token = server.issue(username, scopes, service=service)
            return {
                "token": token,
                "access_token": token,
                "expires_in": server.expires_in,
                "issued_at": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
            }

        def _refuse(self, method: str, grant: str, user: str | None, scopes: list[str], status: int) -> None:
            server._record(TokenRequest(method, grant, user, tuple(scopes), status))
            challenge = {"WWW-Authenticate": 'Basic realm="repro-testbed"'} if status == 401 else {}
            self._reply(status, {"errors": [{"code": "UNAUTHORIZED", "message": "access denied"}]}, challenge)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
                return
            query = urllib.parse.parse_qs(url.query)
            scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
            service = query.get("service", [None])[0]
            username: str | None = None
            grant = "anonymous"
            authorization = self.headers.get("Authorization", "")
            if authorization:
                kind, _, value = authorization.partition(" ")
                if kind.lower() != "basic":
                    self._refuse("GET", "basic", None, scopes, 401)
                    return
                try:
                    username, _, password = base64.b64decode(value).decode().partition(":")
                except ValueError:
                    self._refuse("GET", "basic", None, scopes, 400)
                    return
                grant = "basic"
                if not server._authenticate(username, password):
                    self._refuse("GET", grant, username, scopes, 401)
                    return
            body = self._token_body(username, scopes, service)
            if query.get("offline_token", [""])[0] == "true" and username is not None:
                body["refresh_token"] = server.issue_refresh_token(username)
            server._record(TokenRequest("GET", grant, username, tuple(scopes), 200))
            self._reply(200, body)

        def do_POST(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            if url.path != "/token":
                self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
                return

            def one(name: str) -> str | None:
                values = form.get(name)
                return values[0] if values else None

            grant = one("grant_type") or ""
            scopes = [s for value in form.get("scope", []) for s in value.split(" ") if s]
            username: str | None
            if grant == "password":
                username = one("username")
                if username is None or not server._authenticate(username, one("password") or ""):
                    self._refuse("POST", grant, username, scopes, 401)
                    return
            elif grant == "refresh_token":
                with server._lock:
                    username = server._refresh_tokens.get(one("refresh_token") or "")
                if username is None:
                    self._refuse("POST", grant, None, scopes, 401)
                    return
            else:
                self._refuse("POST", grant, None, scopes, 400)
                return
            body = self._token_body(username, scopes, one("service"))
            body["scope"] = " ".join(scopes)
            if grant == "refresh_token":
                body["refresh_token"] = one("refresh_token")
            elif one("access_type") == "offline":
                body["refresh_token"] = server.issue_refresh_token(username)
            server._record(TokenRequest("POST", grant, username, tuple(scopes), 200))
            self._reply(200, body)

    return Handler
