"""Registry authentication: ``WWW-Authenticate`` challenges, Basic, and the Bearer token flow.

A registry that wants credentials answers 401 with a challenge. :func:`parse_challenges`
reads it (robustly: quoted strings with commas and escapes, several challenges in one
header). :class:`Authenticator` turns a challenge into an ``Authorization`` header value:
Basic with the user's credentials, or a Bearer token fetched from the challenge's realm
for a scope such as ``repository:library/debian:pull`` and cached until it expires.

    >>> [c.params["scope"] for c in parse_challenges(
    ...     'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"')]
    ['repository:a/b:pull,push']
    >>> repository_scope("library/debian", ("pull",))
    'repository:library/debian:pull'

Credentials and tokens never appear in logs, messages or reprs.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from repro.errors import AuthenticationError, RegistryError
from repro.registry.credentials import Credential, CredentialStore
from repro.registry.transport import Transport, checked_url, read_body

logger = logging.getLogger(__name__)

#: Longest challenge header parsed; registries send a few hundred bytes.
MAX_CHALLENGE_LENGTH = 16 * 1024
MAX_TOKEN_RESPONSE = 1024 * 1024
#: Token lifetime assumed when the server does not say (the distribution spec's minimum).
DEFAULT_TOKEN_LIFETIME = 60.0
CLIENT_ID = "repro"
MAX_TOKEN_LENGTH = 64 * 1024
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68_CHARS = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPACE = " \t"


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: scheme (lower case) and parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None


class _Reader:
    """A cursor over header text; every step consumes at least one character or stops."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.peek() and self.peek() in _SPACE:
            self.pos += 1

    def take(self, allowed: frozenset[str]) -> str:
        start = self.pos
        while self.peek() and self.peek() in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str | None:
        """A quoted-string starting at the cursor, unescaped; None when unterminated."""
        assert self.peek() == '"'  # noqa: S101 -- callers check; a bug otherwise
        self.pos += 1
        out: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and not self.at_end():
                out.append(self.text[self.pos])
                self.pos += 1
            elif char == '"':
                return "".join(out)
            else:
                out.append(char)
        return None

    def skip_to_comma(self) -> None:
        """Resynchronise after garbage: skip to the next comma outside a quoted string."""
        while not self.at_end() and self.peek() != ",":
            if self.peek() == '"':
                self.quoted()
            else:
                self.pos += 1


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value (RFC 7235) into its challenges.

    Parameter names are lower-cased; the first occurrence of a repeated parameter wins.
    Malformed parts are skipped rather than guessed at; an absurdly long header yields
    nothing.
    """
    if len(header) > MAX_CHALLENGE_LENGTH:
        return []
    reader = _Reader(header)
    challenges: list[Challenge] = []
    while not reader.at_end():
        reader.skip_space()
        if reader.peek() == ",":
            reader.pos += 1
            continue
        scheme = reader.take(_TOKEN_CHARS)
        if not scheme:
            reader.skip_to_comma()
            continue
        params: dict[str, str] = {}
        token68: str | None = None
        reader.skip_space()
        # token68 form: "Basic dXNlcjpwYXNz==", then end of challenge.
        mark = reader.pos
        candidate = reader.take(_TOKEN68_CHARS)
        equals = reader.take(frozenset("="))
        reader.skip_space()
        if candidate and (reader.at_end() or reader.peek() == ","):
            token68 = candidate + equals
            if reader.peek() == ",":
                reader.pos += 1
        else:
            reader.pos = mark
            _parse_params(reader, params)
        challenges.append(Challenge(scheme=scheme.lower(), params=params, token68=token68))
    return challenges


def _parse_params(reader: _Reader, params: dict[str, str]) -> None:
    """Read ``name=value`` pairs until the next challenge begins (a token with no ``=``)."""
    while True:
        reader.skip_space()
        while reader.peek() == ",":
            reader.pos += 1
            reader.skip_space()
        if reader.at_end():
            return
        mark = reader.pos
        name = reader.take(_TOKEN_CHARS)
        reader.skip_space()
        if not name:
            reader.skip_to_comma()
            continue
        if reader.peek() != "=":
            reader.pos = mark  # the scheme of the next challenge
            return
        reader.pos += 1
        reader.skip_space()
        value: str | None
        if reader.peek() == '"':
            value = reader.quoted()
            if value is None:
                return
        else:
            value = reader.take(_TOKEN_CHARS)
        params.setdefault(name.lower(), value)
        reader.skip_space()
        if not reader.at_end() and reader.peek() != ",":
            reader.skip_to_comma()


# -- scopes -----------------------------------------------------------------------------


def repository_scope(path: str, actions: Sequence[str]) -> str:
    """The token scope for ``actions`` (``pull``, ``push``) on repository ``path``."""
    return f"repository:{path}:{','.join(actions)}"


def _split_scope(scope: str) -> tuple[str, str, list[str]] | None:
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    return kind, name, [a for a in actions.split(",") if a]


def merge_scopes(*groups: Iterable[str]) -> tuple[str, ...]:
    """Union of scope strings, actions merged per resource, in a stable order.

    ``merge_scopes(["repository:a:pull"], ["repository:a:push,pull"])`` is
    ``("repository:a:pull,push",)``. Scope strings may hold several space-separated scopes;
    unparseable ones are kept verbatim.
    """
    merged: dict[tuple[str, str], list[str]] = {}
    verbatim: list[str] = []
    for group in groups:
        for text in group:
            for scope in text.split():
                parts = _split_scope(scope)
                if parts is None:
                    if scope not in verbatim:
                        verbatim.append(scope)
                    continue
                kind, name, actions = parts
                known = merged.setdefault((kind, name), [])
                known.extend(a for a in actions if a not in known)
    return tuple(f"{kind}:{name}:{','.join(actions)}" for (kind, name), actions in merged.items()) + tuple(
        verbatim
    )


# -- the authenticator ------------------------------------------------------------------


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float


def basic_header(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Authenticator:
    """Produces ``Authorization`` values for registries, caching Bearer tokens per scope."""

    def __init__(
        self,
        transport: Transport,
        credentials: CredentialStore,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._credentials = credentials
        self._clock = clock
        self._tokens: dict[tuple[str, tuple[str, ...]], _Token] = {}
        self._basic: dict[str, str] = {}
        self._lock = threading.Lock()
        self._fetch_locks: dict[tuple[str, tuple[str, ...]], threading.Lock] = {}

    def __repr__(self) -> str:
        return f"<Authenticator: {len(self._tokens)} cached token(s)>"

    def cached(self, domain: str, scopes: Sequence[str]) -> str | None:
        """An ``Authorization`` value known to have worked for ``domain`` and ``scopes``."""
        key = (domain, merge_scopes(scopes))
        with self._lock:
            if domain in self._basic:
                return self._basic[domain]
            token = self._tokens.get(key)
            if token is not None and token.expires_at > self._clock():
                return "Bearer " + token.value
        return None

    def authorize(
        self, domain: str, challenge_header: str | None, scopes: Sequence[str], *, previous: str | None
    ) -> str:
        """Answer a 401 from ``domain``: a fresh ``Authorization`` value for ``scopes``.

        ``previous`` is the value the refused request carried, if any. Bearer tokens are
        requested for ``scopes`` widened by the scope the challenge names.
        """
        challenges = parse_challenges(challenge_header or "")
        by_scheme = {c.scheme: c for c in reversed(challenges)}
        if "bearer" in by_scheme:
            return self._bearer(domain, by_scheme["bearer"], scopes)
        if "basic" in by_scheme:
            return self._basic_auth(domain, previous)
        offered = ", ".join(sorted(by_scheme)) or "none"
        raise AuthenticationError(f"{domain}: asks for authentication repro cannot do (schemes: {offered})")

    # -- Basic --------------------------------------------------------------------------

    def _basic_auth(self, domain: str, previous: str | None) -> str:
        credential = self._credentials.get(domain)
        if credential is None or credential.password is None:
            raise AuthenticationError(f"{domain}: requires a username and password, and none are configured")
        header = basic_header(credential.username or "", credential.password)
        if header == previous:
            raise AuthenticationError(f"{domain}: the configured username and password were refused")
        with self._lock:
            self._basic[domain] = header
        return header

    # -- Bearer -------------------------------------------------------------------------

    def _bearer(self, domain: str, challenge: Challenge, scopes: Sequence[str]) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthenticationError(f"{domain}: Bearer challenge without a realm")
        try:
            checked_url(realm, "Bearer realm")
        except RegistryError as exc:
            raise AuthenticationError(f"{domain}: {exc}") from None
        wanted = merge_scopes(scopes, [challenge.params.get("scope", "")])
        requested = merge_scopes(scopes)
        with self._lock:
            fetch_lock = self._fetch_locks.setdefault((domain, wanted), threading.Lock())
        with fetch_lock:
            token = self._fetch_token(domain, realm, challenge.params.get("service"), wanted)
            with self._lock:
                self._tokens[(domain, requested)] = token
                if wanted != requested:
                    self._tokens[(domain, wanted)] = token
        return "Bearer " + token.value

    def _fetch_token(self, domain: str, realm: str, service: str | None, scopes: tuple[str, ...]) -> _Token:
        credential = self._credentials.get(domain)
        query: list[tuple[str, str]] = []
        if service:
            query.append(("service", service))
        query.extend(("scope", s) for s in scopes)
        described = " ".join(scopes) or "no scope"
        if credential is not None and credential.identity_token is not None:
            response = self._transport.send(
                domain,
                "POST",
                realm,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                data=urlencode(
                    [
                        ("grant_type", "refresh_token"),
                        ("refresh_token", credential.identity_token),
                        ("client_id", CLIENT_ID),
                        *query,
                    ]
                ).encode(),
            )
        else:
            response = self._transport.send(
                domain,
                "GET",
                _realm_url(realm, query),
                authorization=_token_server_auth(credential),
            )
        with response:
            status = response.status_code
            body = read_body(response, domain, MAX_TOKEN_RESPONSE) if status == 200 else b""
        if status in (401, 403):
            who = "anonymous access" if credential is None else "the configured credentials"
            raise AuthenticationError(f"{domain}: token server refused {who} for {described}")
        if status != 200:
            raise RegistryError(f"{domain}: token server answered {status} for {described}")
        token = _parse_token_response(domain, body, self._clock())
        logger.debug(
            "got a token for %s (%s), valid %.0f s", domain, described, token.expires_at - self._clock()
        )
        return token


def _realm_url(realm: str, query: list[tuple[str, str]]) -> str:
    parts = urlsplit(realm)
    existing = parts.query + "&" if parts.query else ""
    return parts._replace(query=existing + urlencode(query)).geturl()


def _token_server_auth(credential: Credential | None) -> str | None:
    if credential is None or credential.password is None:
        return None
    return basic_header(credential.username or "", credential.password)


def _parse_token_response(domain: str, body: bytes, now: float) -> _Token:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AuthenticationError(f"{domain}: token server answer is not JSON") from None
    if not isinstance(document, dict):
        raise AuthenticationError(f"{domain}: token server answer is not a JSON object")
    value = document.get("token") or document.get("access_token")
    if not isinstance(value, str) or not value:
        raise AuthenticationError(f"{domain}: token server answer has no token")
    if len(value) > MAX_TOKEN_LENGTH or not _B64TOKEN.fullmatch(value):
        # RFC 6750 b64token: anything else cannot travel in an Authorization header.
        raise AuthenticationError(f"{domain}: token server answered with a malformed token")
    lifetime = document.get("expires_in", DEFAULT_TOKEN_LIFETIME)
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    # Renew a little early so a token does not expire between cache and use.
    margin = min(10.0, float(lifetime) / 4)
    return _Token(value=value, expires_at=now + float(lifetime) - margin)
