"""What the final file system of an image should not contain: secrets and risky permissions.

:func:`scan_files` walks any :class:`~repro.sbom.model.FileView` (the merged layers of an
image, e.g. :class:`repro.layers.filesystem.ImageFilesystem`) and reports

- private keys (PEM/OpenSSH headers), cloud credentials and tokens with a recognisable
  format (AWS access key ids, GitHub, GitLab, Slack, Google API keys, npm tokens);
- credential files: ``.env``, ``id_rsa`` and friends, ``.npmrc``/``.pypirc``/``.netrc``/
  ``.git-credentials``/Docker ``config.json`` that hold auth, ``.aws/credentials``;
- setuid and setgid files, and world-writable files and directories (without the sticky bit).

Only names are matched for every path; content is read for files whose names say they may
hold a credential and for small files outside the directories a distribution's packages
own, so a 300 MB image is scanned in one pass over its headers plus a few reads. A
finding never contains the secret, only its kind and path.

    >>> credential_kind("AKIAIOSFODNN7EXAMPLE")
    'AWS access key id'
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from repro.errors import ImageError
from repro.layers.fileview import FileEntry, FileView
from repro.redact import TOKEN_SHAPES

__all__ = ["FileFinding", "ScanResult", "credential_kind", "scan_files"]

# (format name, pattern); the name is what a finding reports. The same shapes as the
# redaction of everything repro writes, so that one list decides what a token looks like.
_TOKEN_PATTERNS: Final = tuple((name, re.compile(pattern.encode())) for name, pattern in TOKEN_SHAPES)
_PRIVATE_KEY_RE: Final = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----")
_AWS_SECRET_RE: Final = re.compile(rb"(?im)^\s*aws_secret_access_key\s*=\s*\S+")
_NPMRC_AUTH_RE: Final = re.compile(rb"(?m)(?:_authToken|_auth|_password)\s*=\s*\S+")
_PYPIRC_AUTH_RE: Final = re.compile(rb"(?m)^\s*password\s*[=:]\s*\S+")
_NETRC_AUTH_RE: Final = re.compile(rb"\bpassword\s+\S+")
_DOCKER_AUTH_RE: Final = re.compile(rb'"auth"\s*:\s*"[A-Za-z0-9+/=]{4,}"')
_GIT_CREDENTIALS_RE: Final = re.compile(rb"https?://[^:/\s]+:[^@\s]+@")
_DOTENV_SECRET_RE: Final = re.compile(
    rb"(?im)^\s*(?:export\s+)?[A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY)[A-Z0-9_]*\s*=\s*\S"
)

_PRIVATE_KEY_NAMES: Final = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk")
# Directories whose files come from packages; their content is not read (names still are).
_PACKAGE_DIRS: Final = (
    "usr/",
    "lib/",
    "lib32/",
    "lib64/",
    "libx32/",
    "bin/",
    "sbin/",
    "var/lib/dpkg/",
    "var/lib/apt/",
    "var/lib/rpm/",
    "var/cache/",
    "var/log/",
    "etc/ssl/certs/",
    "proc/",
    "sys/",
    "dev/",
)
# Test fixtures that ship keys on purpose inside packages.
_FIXTURE_PATTERNS: Final = ("*/tests/*", "*/test/*", "*/testdata/*", "*/fixtures/*")
#: Files larger than this are not read for token patterns.
CONTENT_MAX: Final = 256 * 1024
#: At most this many files have their content read (the rest are reported as not read).
READ_BUDGET: Final = 5000


@dataclass(frozen=True)
class FileFinding:
    """Something found at one path of the image; ``detail`` names what, never the secret."""

    kind: str  # "private-key", "credential", "token", "setuid", "setgid", "world-writable"
    path: str
    detail: str
    layer: int | None = None
    location: str | None = None  # "Dockerfile:7": the instruction that made the layer

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kind": self.kind,
            "path": self.path,
            "detail": self.detail,
            "layer": self.layer,
        }
        if self.location is not None:
            file, _, line = self.location.rpartition(":")
            doc["location"] = {"file": file, "line": int(line) if line.isdigit() else None}
        return doc


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[FileFinding, ...]
    scanned: int  # paths looked at
    read: int  # files whose content was read


def credential_kind(value: str | bytes) -> str | None:
    """The name of the credential format ``value`` contains, or None."""
    data = value.encode() if isinstance(value, str) else value
    if _PRIVATE_KEY_RE.search(data):
        return "private key"
    for name, pattern in _TOKEN_PATTERNS:
        if pattern.search(data):
            return name
    return None


def _content_rule(path: str) -> tuple[str, re.Pattern[bytes]] | None:
    """A credential file recognised by its name, and what in it shows a credential."""
    name = posixpath.basename(path)
    if name == ".npmrc":
        return ".npmrc with an auth token", _NPMRC_AUTH_RE
    if name == ".pypirc":
        return ".pypirc with a password", _PYPIRC_AUTH_RE
    if name in (".netrc", "_netrc"):
        return ".netrc with a password", _NETRC_AUTH_RE
    if name == ".git-credentials":
        return ".git-credentials with a password", _GIT_CREDENTIALS_RE
    if name == "config.json" and path.endswith(".docker/config.json"):
        return "Docker config.json with registry credentials", _DOCKER_AUTH_RE
    if name == "credentials" and path.endswith(".aws/credentials"):
        return "AWS credentials file", _AWS_SECRET_RE
    if name == ".env" or name.startswith(".env."):
        if name.endswith((".example", ".sample", ".template", ".dist")):
            return None
        return ".env file with secrets", _DOTENV_SECRET_RE
    return None


def _wants_content(entry: FileEntry) -> bool:
    if entry.type != "file" or entry.size == 0:
        return False
    path = entry.path
    name = posixpath.basename(path)
    if _content_rule(path) is not None or name in _PRIVATE_KEY_NAMES:
        return entry.size <= 4 * CONTENT_MAX
    if name.endswith((".pem", ".key", ".p8", ".ppk")):
        return entry.size <= CONTENT_MAX and not _is_fixture(path)
    return entry.size <= CONTENT_MAX and not path.startswith(_PACKAGE_DIRS) and not _is_fixture(path)


def _is_fixture(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in _FIXTURE_PATTERNS)


def _permission_findings(entry: FileEntry) -> Iterable[FileFinding]:
    mode = entry.mode
    if entry.type == "file":
        if mode & stat.S_ISUID:
            yield FileFinding("setuid", entry.path, f"setuid file owned by uid {entry.uid}", entry.layer)
        if mode & stat.S_ISGID:
            yield FileFinding("setgid", entry.path, f"setgid file owned by gid {entry.gid}", entry.layer)
    if (
        entry.type in ("file", "dir")
        and mode & stat.S_IWOTH
        and not (entry.type == "dir" and mode & stat.S_ISVTX)
    ):
        what = "directory without the sticky bit" if entry.type == "dir" else "file"
        yield FileFinding(
            "world-writable", entry.path, f"world-writable {what} (mode {mode & 0o7777:04o})", entry.layer
        )


def _content_findings(entry: FileEntry, data: bytes) -> Iterable[FileFinding]:
    path = entry.path
    name = posixpath.basename(path)
    if _PRIVATE_KEY_RE.search(data):
        yield FileFinding("private-key", path, "private key", entry.layer)
        return
    rule = _content_rule(path)
    if rule is not None and rule[1].search(data):
        yield FileFinding("credential", path, rule[0], entry.layer)
        return
    if name in _PRIVATE_KEY_NAMES:
        return  # an id_rsa that is not a key (a public key saved under that name)
    kind = credential_kind(data)
    if kind is not None:
        yield FileFinding("token", path, f"contains what looks like a {kind}", entry.layer)


def scan_files(
    fs: FileView,
    *,
    layer_locations: dict[int, str] | None = None,
    read_budget: int = READ_BUDGET,
) -> ScanResult:
    """Scan the final file system ``fs`` for secrets and risky permissions.

    ``layer_locations`` maps a layer index to the Dockerfile line that made it, so a
    finding can point at the instruction to fix.
    """
    findings: list[FileFinding] = []
    to_read: list[FileEntry] = []
    scanned = 0
    for entry in fs.entries():
        scanned += 1
        findings.extend(_permission_findings(entry))
        if _wants_content(entry):
            to_read.append(entry)
    # Credential-named files first: the budget must never skip them.
    to_read.sort(
        key=lambda e: (
            _content_rule(e.path) is None and posixpath.basename(e.path) not in _PRIVATE_KEY_NAMES,
            e.path,
        )
    )
    to_read = to_read[:read_budget]
    prefetch = getattr(fs, "prefetch", None)
    if callable(prefetch):  # one pass per compressed layer instead of one per file
        prefetch([e.path for e in to_read], max_size=CONTENT_MAX)
    read = 0
    for entry in to_read:
        try:
            data = fs.read(entry.path, max_size=max(entry.size, 1))
        except ImageError:
            continue
        read += 1
        findings.extend(_content_findings(entry, data))
    if layer_locations:
        findings = [
            FileFinding(
                f.kind,
                f.path,
                f.detail,
                f.layer,
                layer_locations.get(f.layer) if f.layer is not None else None,
            )
            for f in findings
        ]
    findings.sort(key=lambda f: (f.path, f.kind))
    return ScanResult(findings=tuple(findings), scanned=scanned, read=read)
