"""Alpine packages, from apk's installed database ``lib/apk/db/installed``.

The database is a list of records separated by blank lines; each line is ``X:value`` with a
one-letter key (``P`` name, ``V`` version, ``A`` arch, ``L`` licence, ``o`` origin, ``D``
dependencies, ``p`` provides, ``F``/``R`` directory/file). Dependencies name a package or
something a package provides (``so:libc.musl-x86_64.so.1``, ``cmd:sh``) and are resolved
to the installed package that provides it.

    pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1&upstream=busybox-src
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from repro.errors import ImageError
from repro.layers.fileview import FileView
from repro.sbom import purl
from repro.sbom.licenses import is_spdx, normalize
from repro.sbom.model import CatalogContext, Package

__all__ = ["ApkCataloger"]

log = logging.getLogger(__name__)

DATABASE_PATHS = ("lib/apk/db/installed", "usr/lib/apk/db/installed")
MAX_DATABASE_SIZE = 64 * 1024 * 1024
_CONSTRAINT = re.compile(r"[<>=~]")
_OPERATOR = re.compile(r"[()]|\b(?:AND|OR|WITH)\b")


@dataclass
class _Record:
    fields: dict[str, str] = field(default_factory=dict)
    depends: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def _parse_database(text: str) -> list[_Record]:
    records: list[_Record] = []
    current = _Record()
    directory = ""
    for raw_line in text.splitlines():
        line = raw_line.rstrip("\r")
        if not line.strip():
            if current.fields or current.files:
                records.append(current)
            current, directory = _Record(), ""
            continue
        key, sep, value = line.partition(":")
        if not sep or len(key) != 1:
            continue
        if key == "D":
            current.depends.extend(value.split())
        elif key == "p":
            current.provides.extend(value.split())
        elif key == "F":
            directory = value.strip("/")
            if directory:
                current.files.append(directory)
        elif key == "R":
            name = value.strip("/")
            if name:
                current.files.append(posixpath.join(directory, name) if directory else name)
        elif key not in current.fields:
            current.fields[key] = value
    if current.fields or current.files:
        records.append(current)
    return records


def _capability(token: str) -> str:
    """``so:libc.musl-x86_64.so.1=1`` -> ``so:libc.musl-x86_64.so.1``."""
    return _CONSTRAINT.split(token, maxsplit=1)[0]


def _licenses(field_value: str) -> tuple[str, ...]:
    # Recent Alpine writes SPDX expressions; older releases a space-separated list of names.
    text = field_value.strip()
    if not text:
        return ()
    if is_spdx(text):
        return (normalize(text),)
    if _OPERATOR.search(text):  # an expression with a non-SPDX name in it: keep it whole
        return (text,)
    return tuple(dict.fromkeys(text.split()))


class ApkCataloger:
    """Packages recorded in apk's installed database."""

    name = "apk"

    def catalog(self, fs: FileView, context: CatalogContext) -> Sequence[Package]:
        packages: list[Package] = []
        for path in DATABASE_PATHS:
            entry = fs.entry(path)
            if entry is None or entry.type not in ("file", "hardlink"):
                continue
            try:
                data = fs.read(path, max_size=MAX_DATABASE_SIZE)
            except ImageError as err:
                log.warning("skipping apk database %s: %s", path, err)
                continue
            packages.extend(self._catalog_database(path, data.decode("utf-8", "replace"), context))
        return packages

    def _catalog_database(self, path: str, text: str, context: CatalogContext) -> list[Package]:
        namespace = (context.distro.id.lower() if context.distro else "") or "alpine"
        found: list[tuple[_Record, str]] = []
        for record in _parse_database(text):
            name, version = record.fields.get("P", "").strip(), record.fields.get("V", "").strip()
            if not name or not version:
                log.warning(
                    "%s: skipping a record without a name or version (P:%r V:%r)", path, name, version
                )
                continue
            origin = record.fields.get("o", "").strip()
            qualifiers = {"arch": record.fields.get("A", "").strip()}
            if origin and origin != name:
                qualifiers["upstream"] = origin
            found.append(
                (
                    record,
                    purl.build(
                        "apk", namespace, name, version, purl.distro_qualifiers(qualifiers, context.distro)
                    ),
                )
            )

        providers: dict[str, str] = {}
        for record, package_purl in found:
            providers.setdefault(record.fields["P"].strip(), package_purl)
        for record, package_purl in found:
            for token in record.provides:
                providers.setdefault(_capability(token), package_purl)

        packages = []
        for record, package_purl in found:
            depends: dict[str, None] = {}
            for token in record.depends:
                if token.startswith("!"):  # a conflict, not a dependency
                    continue
                target = providers.get(_capability(token))
                if target is not None and target != package_purl:
                    depends[target] = None
            properties = {
                "arch": record.fields.get("A", "").strip(),
                "source": record.fields.get("o", "").strip(),
            }
            packages.append(
                Package(
                    type="apk",
                    name=record.fields["P"].strip(),
                    version=record.fields["V"].strip(),
                    purl=package_purl,
                    evidence=(path,),
                    licenses=_licenses(record.fields.get("L", "")),
                    files=tuple(dict.fromkeys(record.files)),
                    depends_on=tuple(depends),
                    properties={key: value for key, value in properties.items() if value},
                    supplier=record.fields.get("m", "").strip() or None,
                    description=record.fields.get("T", "").strip() or None,
                )
            )
        return packages
