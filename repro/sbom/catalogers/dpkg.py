"""Debian packages, from dpkg's database.

Read: ``var/lib/dpkg/status`` (and distroless images' ``var/lib/dpkg/status.d/*``, one
stanza per file; both deb822, parsed with python-debian), each package's files from ``var/lib/dpkg/info/<pkg>[:<arch>].list`` (or
``.md5sums``), and its licences from ``usr/share/doc/<pkg>/copyright``: machine-readable
(DEP-5) files are parsed with python-debian, the others are searched for references to
``/usr/share/common-licenses/X``; Debian's short names are mapped to SPDX ids.

``Depends`` and ``Pre-Depends`` are resolved to installed packages: of ``a | b`` the first
installed alternative, a virtual package to the installed package that ``Provides`` it.

The layer that introduced a package is the first layer from which the status file
continuously lists it installed *with its final version* (an upgrade in a later layer
moves it there); each layer's status file is kept by the file scan (``track``).

    pkg:deb/debian/libc6@2.36-9%2Bdeb12u8?arch=amd64&distro=debian-12&upstream=glibc
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from debian.deb822 import Deb822

from repro.errors import ImageError
from repro.layers.fileview import FileView, LayeredFileView
from repro.sbom import purl
from repro.sbom.licenses import is_spdx, normalize
from repro.sbom.model import LAYER_PROPERTY, CatalogContext, Package

__all__ = [
    "DpkgCataloger",
    "debian_license",
    "licenses_from_copyright",
    "parse_stanzas",
]

logger = logging.getLogger(__name__)
# python-debian logs a warning for every copyright file with an old Format URL.
logging.getLogger("debian.copyright").setLevel(logging.ERROR)

STATUS = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d"
INFO_DIR = "var/lib/dpkg/info"
MAX_STATUS_SIZE = 256 * 1024 * 1024
MAX_COPYRIGHT_SIZE = 4 * 1024 * 1024
# dpkg's "Status: want flag state": these states have the package's files on disk.
_PRESENT_STATES = frozenset(
    {"installed", "half-configured", "unpacked", "half-installed", "triggers-awaited", "triggers-pending"}
)
_COMMON_LICENSE = re.compile(r"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+_-]*[A-Za-z0-9+])")
_VERSIONED_FAMILY = re.compile(r"(?i)(A?GPL|LGPL|GFDL)-?(\d+(?:\.\d+)?)(\+)?")
_WITH_EXCEPTION = re.compile(r"(?i)\s+with\s+.*\bexception\b.*$")
_OPERATOR = re.compile(r"(?i)\s+(?:and/or|or|and)\s+|,")
_LICENSE_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]*")
_SOURCE = re.compile(r"^(\S+)(?:\s*\(([^)]*)\))?")
_DEBIAN_NAMES: Mapping[str, str] = {
    "expat": "MIT",
    "apache-2": "Apache-2.0",
    "apache-2.0": "Apache-2.0",
    "artistic": "Artistic-1.0-Perl",
    "artistic-1": "Artistic-1.0",
    "artistic-2": "Artistic-2.0",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "cc0": "CC0-1.0",
    "cc0-1.0": "CC0-1.0",
    "mpl-1.1": "MPL-1.1",
    "mpl-2.0": "MPL-2.0",
    "zlib": "Zlib",
    "isc": "ISC",
    "x11": "X11",
    "mit": "MIT",
    "psf-2": "PSF-2.0",
    "python": "Python-2.0",
}


# --- parsing ---------------------------------------------------------------------------------


#: The fields the cataloger reads; python-debian skips the rest of each paragraph.
STATUS_FIELDS = (
    "Package",
    "Status",
    "Version",
    "Architecture",
    "Source",
    "Depends",
    "Pre-Depends",
    "Provides",
    "Maintainer",
    "Description",
)


def parse_stanzas(text: str, fields: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Paragraphs of a deb822 file, read by python-debian (only ``fields`` when given).

    A value that continues on indented lines keeps one line per line, without the
    indentation (``Description``'s long text, a wrapped ``Depends``).
    """
    return [
        {key: "\n".join(line.strip() for line in value.split("\n")) for key, value in paragraph.items()}
        for paragraph in Deb822.iter_paragraphs(
            text, fields=list(fields) if fields is not None else None, use_apt_pkg=False
        )
    ]


def _is_present(stanza: Mapping[str, str]) -> bool:
    status = stanza.get("Status")
    if status is None:  # distroless status.d files carry no Status field
        return True
    words = status.split()
    return len(words) == 3 and words[2] in _PRESENT_STATES


def debian_license(name: str) -> str:
    """A Debian short licence name (``GPL-2+``, ``Expat``) as SPDX where there is one."""
    name = _WITH_EXCEPTION.sub("", name.strip()).strip()
    family = _VERSIONED_FAMILY.fullmatch(name)
    if family is not None:
        kind, version, later = family.groups()
        version = version if "." in version else f"{version}.0"
        spdx = f"{kind.upper()}-{version}-{'or-later' if later else 'only'}"
        if is_spdx(spdx):
            return normalize(spdx)
    mapped = _DEBIAN_NAMES.get(name.lower())
    if mapped is not None:
        return mapped
    # Only a single licence-like token can be an SPDX id; prose stays as written.
    return normalize(name) if _LICENSE_TOKEN.fullmatch(name) else name


def _synopsis_licenses(synopsis: str) -> list[str]:
    return [debian_license(part) for part in _OPERATOR.split(synopsis) if part.strip()]


def _synopsis(license_field: object) -> str:
    synopsis = getattr(license_field, "synopsis", None)
    return synopsis if isinstance(synopsis, str) else ""


def _without_license_texts(text: str) -> list[str]:
    """The copyright file reduced to what names licences: fields' first lines, and ``Files``.

    Licence texts and lists of copyright holders are most of a copyright file and carry
    nothing the SBOM needs; python-debian parses what is left many times faster.
    """
    lines: list[str] = []
    keep_continuation = False
    for line in text.splitlines():
        if line[:1] in (" ", "\t"):
            if keep_continuation:
                lines.append(line)
            continue
        keep_continuation = line.lower().startswith("files:")
        lines.append(line)
    return lines


def licenses_from_copyright(text: str) -> list[str]:
    """The licences a ``copyright`` file names, as SPDX ids where known, sorted and unique."""
    return list(_licenses_cached(text))


# Binary packages of one source package ship the same copyright file (libc6 and libc-bin,
# the util-linux libraries): parse each distinct text once.
@functools.lru_cache(maxsize=1024)
def _licenses_cached(text: str) -> tuple[str, ...]:
    found: set[str] = set()
    head = text[:512]
    if "Format:" in head:
        from debian.copyright import Copyright
        from debian.copyright import Error as CopyrightError

        try:
            parsed = Copyright(_without_license_texts(text), strict=False)
        except (CopyrightError, ValueError, KeyError) as exc:
            logger.debug("copyright: not machine-readable after all: %s", exc)
        else:
            licenses = [parsed.header.license, *(p.license for p in parsed.all_files_paragraphs())]
            for value in licenses:
                found.update(_synopsis_licenses(_synopsis(value)))
    for name in _COMMON_LICENSE.findall(text):
        found.add(debian_license(name))
    found.discard("")
    return tuple(sorted(found))


# --- the cataloger -----------------------------------------------------------------------------


@dataclass
class _Installed:
    stanza: dict[str, str]
    evidence: str  # the status file (or status.d file) that lists it

    @property
    def name(self) -> str:
        return self.stanza.get("Package", "")

    @property
    def version(self) -> str:
        return self.stanza.get("Version", "")

    @property
    def arch(self) -> str:
        return self.stanza.get("Architecture", "")


def _relations(field: str) -> list[list[str]]:
    """``a (>= 1) | b:any, c`` → ``[["a", "b"], ["c"]]`` (names only)."""
    clauses = []
    for clause in field.replace("\n", " ").split(","):
        names = []
        for alternative in clause.split("|"):
            token = alternative.strip().split(" ", 1)[0].split("(", 1)[0].split("[", 1)[0]
            name = token.split(":", 1)[0].strip()
            if name:
                names.append(name)
        if names:
            clauses.append(names)
    return clauses


class DpkgCataloger:
    """Debian (and derivatives') installed packages."""

    name = "dpkg"
    prefetch = (
        STATUS,
        f"{STATUS_DIR}/*",
        f"{INFO_DIR}/*.list",
        f"{INFO_DIR}/*.md5sums",
        "usr/share/doc/*/copyright",
    )
    track = (STATUS, f"{STATUS_DIR}/*")

    def catalog(self, fs: FileView, context: CatalogContext) -> Sequence[Package]:
        installed = self._installed(fs)
        if not installed:
            return []
        layers = self._introduced(fs, installed)
        purls = {id(pkg): self._purl(pkg, context) for pkg in installed}
        providers = self._providers(installed)
        packages = []
        for pkg in installed:
            depends = self._depends(pkg, providers, purls)
            properties = {"arch": pkg.arch}
            source_name, source_version = self._source(pkg)
            if source_name:
                properties["source"] = source_name
            if source_version:
                properties["sourceVersion"] = source_version
            layer = layers.get((pkg.name, pkg.arch))
            if layer is not None:
                properties[LAYER_PROPERTY] = str(layer)
            description = pkg.stanza.get("Description", "").split("\n", 1)[0] or None
            packages.append(
                Package(
                    type="deb",
                    name=pkg.name,
                    version=pkg.version,
                    purl=purls[id(pkg)],
                    evidence=(pkg.evidence,),
                    licenses=tuple(self._licenses(fs, pkg.name)),
                    files=tuple(self._files(fs, pkg)),
                    depends_on=tuple(depends),
                    properties=properties,
                    supplier=pkg.stanza.get("Maintainer") or None,
                    description=description,
                )
            )
        return packages

    # --- reading the database ----------------------------------------------------------------

    def _installed(self, fs: FileView) -> list[_Installed]:
        found: list[_Installed] = []
        if fs.entry(STATUS) is not None:
            for stanza in parse_stanzas(self._text(fs, STATUS), STATUS_FIELDS):
                if stanza.get("Package") and _is_present(stanza):
                    found.append(_Installed(stanza, STATUS))
        for entry in fs.glob(f"{STATUS_DIR}/*"):
            if entry.type not in ("file", "hardlink") or entry.path.endswith(".md5sums"):
                continue
            for stanza in parse_stanzas(self._text(fs, entry.path), STATUS_FIELDS):
                if stanza.get("Package") and _is_present(stanza):
                    found.append(_Installed(stanza, entry.path))
        unique: dict[tuple[str, str], _Installed] = {}
        for pkg in found:
            unique.setdefault((pkg.name, pkg.arch), pkg)
        return sorted(unique.values(), key=lambda p: (p.name, p.arch))

    @staticmethod
    def _text(fs: FileView, path: str) -> str:
        return fs.read(path, max_size=MAX_STATUS_SIZE).decode("utf-8", "replace")

    def _introduced(self, fs: FileView, installed: Sequence[_Installed]) -> dict[tuple[str, str], int]:
        """For each package, the first layer from which every status file lists its final version."""
        if not isinstance(fs, LayeredFileView):
            return {}
        final = {(p.name, p.arch): p.version for p in installed}
        first: dict[tuple[str, str], int] = {}
        for path in {p.evidence for p in installed}:
            start: dict[tuple[str, str], int] = {}
            for layer, data in fs.versions(path):
                listed: dict[tuple[str, str], str] = {}
                if data is not None:
                    text = data.decode("utf-8", "replace")
                    for stanza in parse_stanzas(text, STATUS_FIELDS):
                        if stanza.get("Package") and _is_present(stanza):
                            key = (stanza["Package"], stanza.get("Architecture", ""))
                            listed[key] = stanza.get("Version", "")
                for key, version in final.items():
                    if listed.get(key) == version:
                        start.setdefault(key, layer)
                    else:
                        start.pop(key, None)
            for key, layer in start.items():
                first[key] = max(first.get(key, layer), layer)
        return first

    @staticmethod
    def _source(pkg: _Installed) -> tuple[str, str]:
        match = _SOURCE.match(pkg.stanza.get("Source", "").strip())
        if match is None:
            return "", ""
        return match.group(1), (match.group(2) or "").strip()

    def _purl(self, pkg: _Installed, context: CatalogContext) -> str:
        qualifiers = {"arch": pkg.arch}
        source_name, source_version = self._source(pkg)
        if source_name and (source_name != pkg.name or source_version):
            qualifiers["upstream"] = f"{source_name}@{source_version}" if source_version else source_name
        namespace = context.distro.id if context.distro is not None else ""
        return purl.build(
            "deb", namespace, pkg.name, pkg.version, purl.distro_qualifiers(qualifiers, context.distro)
        )

    @staticmethod
    def _providers(installed: Iterable[_Installed]) -> dict[str, list[_Installed]]:
        providers: dict[str, list[_Installed]] = {}
        for pkg in installed:
            providers.setdefault(pkg.name, []).insert(0, pkg)
            for clause in _relations(pkg.stanza.get("Provides", "")):
                for name in clause:
                    providers.setdefault(name, []).append(pkg)
        return providers

    @staticmethod
    def _depends(
        pkg: _Installed, providers: Mapping[str, list[_Installed]], purls: Mapping[int, str]
    ) -> list[str]:
        depends: set[str] = set()
        field = ", ".join(f for f in (pkg.stanza.get("Pre-Depends"), pkg.stanza.get("Depends")) if f)
        for clause in _relations(field):
            for name in clause:
                candidates = providers.get(name)
                if candidates:
                    # Same architecture first: libc6:amd64 over libc6:i386.
                    chosen = next((c for c in candidates if c.arch in (pkg.arch, "all")), candidates[0])
                    if chosen is not pkg:
                        depends.add(purls[id(chosen)])
                    break
        return sorted(depends)

    # --- files and licences -----------------------------------------------------------------

    @staticmethod
    def _files(fs: FileView, pkg: _Installed) -> list[str]:
        names = [f"{pkg.name}:{pkg.arch}", pkg.name]
        for name in names:
            path = f"{INFO_DIR}/{name}.list"
            if fs.entry(path) is not None:
                text = fs.read(path, max_size=MAX_STATUS_SIZE).decode("utf-8", "replace")
                return sorted({line.strip().lstrip("/") for line in text.splitlines()} - {"", "."})
        for directory in (INFO_DIR, STATUS_DIR):
            for name in names:
                path = f"{directory}/{name}.md5sums"
                if fs.entry(path) is not None:
                    text = fs.read(path, max_size=MAX_STATUS_SIZE).decode("utf-8", "replace")
                    return sorted(
                        {
                            line.split(None, 1)[1].strip().lstrip("/")
                            for line in text.splitlines()
                            if " " in line
                        }
                    )
        return []

    @staticmethod
    def _licenses(fs: FileView, name: str) -> list[str]:
        path = f"usr/share/doc/{name}/copyright"
        try:
            data = fs.read(path, max_size=MAX_COPYRIGHT_SIZE)
        except ImageError:
            return []
        return licenses_from_copyright(data.decode("utf-8", "replace"))
