"""Installed Python distributions: ``*.dist-info/METADATA`` and ``*.egg-info/PKG-INFO``.

Found anywhere in the filesystem (``site-packages``, Debian's ``dist-packages``, virtual
environments). Names are normalised as PEP 503 says (``PyYAML`` -> ``pyyaml``), which is
also how syft writes them. ``Requires-Dist`` entries that are not behind an extra are
resolved to the installed distributions they name, preferring one in the same directory.

    pkg:pypi/requests@2.31.0

Distributions that a distro package installed (dpkg, rpm, apk) are reported too: the SBOM
writer merges components by purl and the two kinds of purl never collide.
"""

from __future__ import annotations

import csv
import email.message
import email.parser
import email.policy
import io
import logging
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from repro.errors import ImageError
from repro.layers.fileview import FileView
from repro.sbom import purl
from repro.sbom.licenses import normalize
from repro.sbom.model import CatalogContext, Package

__all__ = ["PythonCataloger", "normalize_name"]

log = logging.getLogger(__name__)

MAX_METADATA_SIZE = 4 * 1024 * 1024
MAX_RECORD_SIZE = 16 * 1024 * 1024

_NAME_SEPARATORS = re.compile(r"[-_.]+")
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EXTRA_MARKER = re.compile(r"\bextra\s*(?:==|!=|===|~=|\bin\b|\bnot\s+in\b)")

# Trove licence classifiers -> SPDX ids, for distributions that only declare a classifier.
_CLASSIFIER_LICENSES = {
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD-3-Clause",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "ISC License (ISCL)": "ISC",
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Zope Public License": "ZPL-2.1",
}


def normalize_name(name: str) -> str:
    """The PEP 503 normalised form of a distribution name."""
    return _NAME_SEPARATORS.sub("-", name).lower()


@dataclass(frozen=True)
class _Distribution:
    name: str  # normalised
    version: str
    site: str  # the directory that holds the .dist-info / .egg-info
    evidence: tuple[str, ...]
    licenses: tuple[str, ...]
    files: tuple[str, ...]
    requires: tuple[str, ...]  # normalised names, extras left out
    summary: str | None
    author: str | None

    @property
    def purl(self) -> str:
        return purl.build("pypi", "", self.name, self.version)


def _licenses(metadata: email.message.Message) -> tuple[str, ...]:
    expression = str(metadata.get("License-Expression", "") or "").strip()
    if expression:
        return (normalize(expression),)
    declared = str(metadata.get("License", "") or "").strip()
    # Some distributions put the whole licence text in License; only a one-line value is a name.
    if declared and "\n" not in declared and declared.upper() not in ("UNKNOWN", "NONE"):
        return (normalize(declared),)
    names = []
    for classifier in metadata.get_all("Classifier") or []:
        parts = [part.strip() for part in str(classifier).split("::")]
        if (
            len(parts) >= 2
            and parts[0] == "License"
            and parts[-1] not in ("OSI Approved", "Other/Proprietary License")
        ):
            names.append(_CLASSIFIER_LICENSES.get(parts[-1], parts[-1]))
    return tuple(dict.fromkeys(names))


def _requirements(metadata: email.message.Message) -> tuple[str, ...]:
    names = []
    for requirement in metadata.get_all("Requires-Dist") or []:
        text = str(requirement)
        spec, _, marker = text.partition(";")
        if _EXTRA_MARKER.search(marker):
            continue  # only installed with an extra: not a dependency of the distribution itself
        match = _REQUIREMENT_NAME.match(spec)
        if match:
            names.append(normalize_name(match.group(1)))
    return tuple(dict.fromkeys(names))


def _clean_path(base: str, relative: str) -> str | None:
    path = posixpath.normpath(posixpath.join(base, relative.replace("\\", "/")))
    if path.startswith(("../", "/")) or path in ("..", "."):
        return None
    return path


def _record_files(fs: FileView, record_path: str, site: str) -> tuple[str, ...]:
    data = fs.read(record_path, max_size=MAX_RECORD_SIZE)
    files = []
    for row in csv.reader(io.StringIO(data.decode("utf-8", "replace"))):
        if row and row[0] and (path := _clean_path(site, row[0])):
            files.append(path)
    return tuple(dict.fromkeys(files))


def _installed_files(fs: FileView, listing_path: str, egg_info: str) -> tuple[str, ...]:
    data = fs.read(listing_path, max_size=MAX_RECORD_SIZE)
    files = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip() and (path := _clean_path(egg_info, line.strip())):
            files.append(path)
    return tuple(dict.fromkeys(files))


def _is_file(fs: FileView, path: str) -> bool:
    entry = fs.entry(path)
    return entry is not None and entry.type in ("file", "hardlink")


class PythonCataloger:
    """Installed Python distributions (wheels' .dist-info, eggs' .egg-info)."""

    name = "python"

    def catalog(self, fs: FileView, context: CatalogContext) -> Sequence[Package]:
        distributions = []
        for metadata_path in self._metadata_paths(fs):
            try:
                distribution = self._read(fs, metadata_path)
            except (ImageError, ValueError, UnicodeError) as err:
                log.warning("skipping Python distribution %s: %s", metadata_path, err)
                continue
            if distribution is not None:
                distributions.append(distribution)

        by_name: dict[str, list[_Distribution]] = {}
        for distribution in distributions:
            by_name.setdefault(distribution.name, []).append(distribution)

        packages = []
        for distribution in distributions:
            depends: dict[str, None] = {}
            for required in distribution.requires:
                candidates = by_name.get(required, [])
                same_site = [c for c in candidates if c.site == distribution.site]
                chosen = (same_site or candidates)[:1]
                for target in chosen:
                    if target.purl != distribution.purl:
                        depends[target.purl] = None
            packages.append(
                Package(
                    type="pypi",
                    name=distribution.name,
                    version=distribution.version,
                    purl=distribution.purl,
                    evidence=distribution.evidence,
                    licenses=distribution.licenses,
                    files=distribution.files,
                    depends_on=tuple(depends),
                    supplier=distribution.author,
                    description=distribution.summary,
                )
            )
        return packages

    @staticmethod
    def _metadata_paths(fs: FileView) -> list[str]:
        paths = [e.path for e in fs.glob("*.dist-info/METADATA") if e.type in ("file", "hardlink")]
        paths += [e.path for e in fs.glob("*.egg-info/PKG-INFO") if e.type in ("file", "hardlink")]
        # An egg-info may also be a single file holding the PKG-INFO text (distutils installs).
        paths += [e.path for e in fs.glob("*.egg-info") if e.type in ("file", "hardlink")]
        return sorted(dict.fromkeys(paths))

    def _read(self, fs: FileView, metadata_path: str) -> _Distribution | None:
        data = fs.read(metadata_path, max_size=MAX_METADATA_SIZE)
        parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
        metadata = parser.parsebytes(data)
        name = str(metadata.get("Name", "") or "").strip()
        version = str(metadata.get("Version", "") or "").strip()
        if not name or not version:
            log.warning("skipping Python distribution %s: no Name or Version", metadata_path)
            return None

        evidence = [metadata_path]
        files: tuple[str, ...] = ()
        if metadata_path.endswith(".egg-info"):
            info_dir = metadata_path
            site = posixpath.dirname(info_dir)
        else:
            info_dir = posixpath.dirname(metadata_path)
            site = posixpath.dirname(info_dir)
            record = posixpath.join(info_dir, "RECORD")
            listing = posixpath.join(info_dir, "installed-files.txt")
            if info_dir.endswith(".dist-info") and _is_file(fs, record):
                files = _record_files(fs, record, site)
                evidence.append(record)
            elif info_dir.endswith(".egg-info") and _is_file(fs, listing):
                files = _installed_files(fs, listing, info_dir)
                evidence.append(listing)

        return _Distribution(
            name=normalize_name(name),
            version=version,
            site=site,
            evidence=tuple(evidence),
            licenses=_licenses(metadata),
            files=files,
            requires=_requirements(metadata),
            summary=str(metadata.get("Summary", "") or "").strip() or None,
            author=str(metadata.get("Author", "") or "").strip() or None,
        )
