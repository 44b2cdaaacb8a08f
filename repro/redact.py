"""One redaction for everything repro writes: secrets found by name and by the shape of the value.

Provenance (``externalParameters.buildArgs``), release reports, logs and error messages
all pass what they show through here, so that a value that looks like a secret is
published nowhere, signed or not. A value is secret when

- its *shape* is a known credential (``ghp_…``, ``glpat-…``, ``xox…``, ``AKIA…``, a JWT,
  an npm ``_authToken=…``, a URL with ``user:password@``, a private key block), or
- its *name* says so (``*PASS*``, ``*TOKEN*``, ``*SECRET*``, ``API_KEY``…) and the value
  is not an obvious non-secret (empty, a boolean, a path, a ``$VARIABLE``); for the weaker
  names (``*KEY*``, ``*AUTH*``, ``*SESSION*``…) only when it also looks random.

Redaction over-matches on purpose: hiding a harmless value costs a reader little, while
publishing a secret in a signed attestation cannot be undone.

    >>> looks_secret("MY_PASS", "hunter2hunter2"), looks_secret("VERSION", "1.2.3")
    (True, False)
    >>> redact_text("postgres://app:s3cr3t@db:5432/x and |2 DB_PASSWORD=hunter2 /bin/sh -c make")
    'postgres://[redacted]@db:5432/x and |2 DB_PASSWORD=[redacted] /bin/sh -c make'
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = [
    "REDACTED",
    "TOKEN_SHAPES",
    "RedactingFilter",
    "is_secret_name",
    "looks_secret",
    "redact_json",
    "redact_mapping",
    "redact_text",
    "redact_value",
    "remember",
    "secret_kind",
    "secret_reason",
]

#: What a secret is replaced with.
REDACTED: Final = "[redacted]"

#: (format name, regular expression) of tokens recognisable by their shape alone. The
#: release gate's image scan (:mod:`repro.policy.scan`) looks for the same ones in files.
TOKEN_SHAPES: Final = (
    ("AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    ("GitHub fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{30,}"),
    ("GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("Slack token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}"),
    ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("npm token", r"\bnpm_[A-Za-z0-9]{36}"),
    ("PyPI token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20,}"),
    ("JSON web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
)
# (format name, pattern): values whose shape alone makes them credentials.
_SHAPES: Final = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----")),
    *((name, re.compile(pattern)) for name, pattern in TOKEN_SHAPES),
    ("npm auth setting", re.compile(r"(?:_authToken|_auth|_password)\s*=\s*[^\s\"']+")),
    ("URL with a password", re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@\"']+:[^\s/@\"']+@")),
    ("authorization header", re.compile(r"(?i)\b(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{20,}")),
)
# Only the secret part of these matches is replaced, so that the rest stays readable.
_URL_CREDENTIALS: Final = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^\s/:@\"']+:[^\s/@\"']+@")
_NPM_SETTING: Final = re.compile(r"((?:_authToken|_auth|_password)\s*=\s*)[^\s\"']+")

# Names that hold secrets whatever their value looks like...
_STRONG_NAME: Final = re.compile(
    r"pass|pwd|secret|token|credential|api[-_]?key|private[-_]?key|access[-_]?key|dsn|"
    r"(?:^|[-_.])pat(?:$|[-_.])|npmrc|pypirc|netrc",
    re.IGNORECASE,
)
# ...and names that hold secrets when the value also looks random (GPG_KEY holds a
# public fingerprint, AUTH_METHOD a word).
_WEAK_NAME: Final = re.compile(
    r"(?:^|[-_.])key(?:$|[-_.])|[a-z]key$|auth|cookie|session|signature|cert|private|salt|seed",
    re.IGNORECASE,
)
# Names that point at a secret rather than hold one: DB_PASSWORD_FILE, TOKEN_PATH.
_POINTER_NAME: Final = re.compile(
    r"[-_.](?:file|path|dir|url|uri|endpoint|host|port|type|method|mode|name|user|username|id|len|length)$",
    re.IGNORECASE,
)
_TRIVIAL_VALUES: Final = frozenset(
    {"", "true", "false", "yes", "no", "on", "off", "none", "null", "nil", "0", "1", "-", "*"}
)
# NAME=VALUE inside free text: buildah's history ("|2 A=1 B=2 /bin/sh -c …"), command
# lines (--build-arg NAME=VALUE), environment dumps.
_ASSIGNMENT: Final = re.compile(r"(?<![\w$])([A-Za-z_][A-Za-z0-9_.-]*)=(\"[^\"]*\"|'[^']*'|[^\s\"']+)")
_MIN_REMEMBERED: Final = 4

_remembered: set[str] = set()
_remembered_lock = threading.Lock()


def secret_kind(value: str) -> str | None:
    """The name of the credential format ``value`` contains, or None.

    >>> secret_kind("//registry.npmjs.org/:_authToken=npm_abc"), secret_kind("debian:12")
    ('npm auth setting', None)
    """
    for name, pattern in _SHAPES:
        if pattern.search(value):
            return name
    return None


def is_secret_name(name: str) -> bool:
    """Whether ``name`` says that its value is a secret (not one that only points at one)."""
    return bool(_STRONG_NAME.search(name) or _WEAK_NAME.search(name)) and not _POINTER_NAME.search(name)


def _is_placeholder(value: str) -> bool:
    """Values that cannot be a secret: booleans, references to variables, paths."""
    text = value.strip()
    return (
        text.lower() in _TRIVIAL_VALUES
        or text.startswith(("$", "/", "./", "../", "~/"))
        or (text.isdigit() and len(text) < 6)
    )


def _looks_random(value: str) -> bool:
    """Long and varied enough to be a generated key (but not a hex fingerprint or digest)."""
    text = value.strip()
    if len(text) < 16 or re.fullmatch(r"(?:0x)?[0-9A-Fa-f:]+", text):
        return False
    counts = Counter(text)
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return entropy >= 3.5


def looks_secret(name: str, value: str) -> bool:
    """Whether build argument (or variable) ``name=value`` carries a secret.

    True for a value of a known credential shape whatever its name; for a strong secret
    name (``*PASS*``, ``*TOKEN*``, ``*SECRET*``…) with any value that is not a placeholder;
    for a weak one (``*KEY*``, ``*AUTH*``…) when the value also looks random.
    """
    if secret_kind(value) is not None:
        return True
    if _POINTER_NAME.search(name) or _is_placeholder(value):
        return False
    if _STRONG_NAME.search(name):
        return True
    return bool(_WEAK_NAME.search(name)) and _looks_random(value)


def secret_reason(name: str, value: str) -> str | None:
    """Why ``name=value`` looks secret ("a GitHub token", "its name"), or None. Never the value."""
    kind = secret_kind(value)
    if kind is not None:
        return f"its value matches the {kind} format"
    return "its name says it holds a secret" if looks_secret(name, value) else None


def redact_value(name: str, value: str) -> str:
    """``value`` as it may be shown: :data:`REDACTED` when it or its name looks secret."""
    if looks_secret(name, value) or (is_secret_name(name) and value != ""):
        return REDACTED
    return redact_text(value)


def redact_mapping(values: Mapping[str, str]) -> dict[str, str]:
    """Every value of ``values`` through :func:`redact_value` (the names stay).

    >>> redact_mapping({"VERSION": "1.2", "NPM_TOKEN": "abc123def456"})
    {'VERSION': '1.2', 'NPM_TOKEN': '[redacted]'}
    """
    return {name: redact_value(name, value) for name, value in values.items()}


def remember(values: Iterable[str]) -> None:
    """Hide these exact values from every later :func:`redact_text` in this process.

    The CLI remembers the values of secret-looking build arguments, so that they stay
    out of logs and errors wherever they turn up (a program's stderr, a history line).
    """
    with _remembered_lock:
        _remembered.update(v for v in values if len(v) >= _MIN_REMEMBERED)


def forget_all() -> None:
    """Forget every remembered value (tests; a long-lived library caller between jobs)."""
    with _remembered_lock:
        _remembered.clear()


def _assignment(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    bare = value[1:-1] if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) > 1 else value
    if looks_secret(name, bare) or (is_secret_name(name) and bare != ""):
        return f"{name}={REDACTED}"
    return match.group(0)


def redact_text(text: str) -> str:
    """``text`` with every secret it shows replaced: remembered values, credential
    shapes, and the values of ``NAME=VALUE`` pairs whose name looks secret."""
    with _remembered_lock:
        known = sorted(_remembered, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _NPM_SETTING.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    for _, pattern in _SHAPES:
        text = pattern.sub(REDACTED, text)
    return _ASSIGNMENT.sub(_assignment, text)


def redact_json(data: object) -> Any:
    """A copy of JSON-like ``data`` with every string through :func:`redact_text`."""
    if isinstance(data, str):
        return redact_text(data)
    if isinstance(data, Mapping):
        return {key: redact_json(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [redact_json(item) for item in data]
    return data


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record's message through :func:`redact_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback text is made from the exception later: hide secrets there too.
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
