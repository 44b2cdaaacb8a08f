"""Java archives (``*.jar``, ``*.war``, ``*.ear``, …) and the archives nested one level inside them.

An archive's identity comes, as syft decides it, from:

1. the ``META-INF/maven/GROUP/ARTIFACT/pom.properties`` whose artifactId matches the file
   name (``commons-lang3-3.12.0.jar`` -> ``commons-lang3``): its group, artifact and version;
2. else the file name (``NAME-VERSION.jar``) and ``META-INF/MANIFEST.MF`` (version from
   ``Implementation-Version`` and friends; group from the first manifest field that looks
   like a reverse domain name, such as ``Bundle-SymbolicName``), the name as group otherwise.

Every other ``pom.properties`` in the archive is a package of its own (shaded or bundled
code), and so is every archive nested in it (Spring Boot's ``BOOT-INF/lib/*.jar``, a
war's ``WEB-INF/lib``). The archive's SHA-1 goes in ``hashes`` as syft records it.

    pkg:maven/org.apache.commons/commons-lang3@3.12.0
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from repro.errors import ImageError
from repro.layers.fileview import FileView
from repro.sbom import purl
from repro.sbom.licenses import normalize
from repro.sbom.model import CatalogContext, Package

__all__ = ["JavaCataloger", "parse_manifest", "parse_properties"]

log = logging.getLogger(__name__)

ARCHIVE_EXTENSIONS = (".jar", ".war", ".ear", ".par", ".sar", ".nar", ".jpi", ".hpi", ".lpkg")
MAX_ARCHIVE_SIZE = 2 * 1024 * 1024 * 1024
MAX_NESTED_SIZE = 256 * 1024 * 1024
MAX_MANIFEST_SIZE = 1024 * 1024
MAX_PROPERTIES_SIZE = 64 * 1024
MAX_ENTRIES = 200_000
_SPOOL_IN_MEMORY = 16 * 1024 * 1024

_FILENAME = re.compile(r"^(?P<name>.+?)-(?P<version>\d[^/]*)$")
_POM_PROPERTIES = re.compile(r"^META-INF/maven/[^/]+/[^/]+/pom\.properties$")
_VERSION_FIELDS = ("Implementation-Version", "Specification-Version", "Plugin-Version", "Bundle-Version")
_GROUP_FIELDS = (
    "Bundle-SymbolicName",
    "Extension-Name",
    "Specification-Vendor",
    "Implementation-Vendor",
    "Implementation-Vendor-Id",
    "Implementation-Title",
    "Bundle-Activator",
    "Automatic-Module-Name",
    "Main-Class",
    "Package",
)
_DOMAINS = frozenset(
    [
        "com",
        "org",
        "net",
        "io",
        "edu",
        "gov",
        "mil",
        "int",
        "info",
        "biz",
        "dev",
        "app",
        "co",
        "me",
        "eu",
        "uk",
        "de",
        "fr",
        "be",
        "nl",
        "ch",
        "at",
        "au",
        "ca",
        "jp",
        "cn",
        "ru",
        "us",
        "se",
        "no",
        "fi",
        "dk",
        "it",
        "es",
    ]
)
_LICENSE_URLS = {
    "apache.org/licenses/license-2.0.txt": "Apache-2.0",
    "apache.org/licenses/license-2.0": "Apache-2.0",
    "opensource.org/licenses/mit": "MIT",
    "opensource.org/licenses/mit-license.php": "MIT",
    "eclipse.org/legal/epl-v10.html": "EPL-1.0",
    "eclipse.org/legal/epl-2.0": "EPL-2.0",
    "www.gnu.org/licenses/lgpl-2.1.txt": "LGPL-2.1-only",
    "opensource.org/licenses/bsd-license.php": "BSD-2-Clause",
}


class ArchiveError(ValueError):
    """A Java archive cannot be read."""


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a ``MANIFEST.MF`` (72-byte lines continued with a leading space)."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if fields:
                break  # the per-entry sections that follow describe single classes
            continue
        if line.startswith(" ") and last is not None:
            fields[last] += line[1:]
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip():
            last = key.strip()
            fields.setdefault(last, value.strip())
    return fields


def parse_properties(text: str) -> dict[str, str]:
    """A Java ``.properties`` file, as far as ``pom.properties`` uses it."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def _maven_purl(group: str, artifact: str, version: str) -> str:
    return purl.build("maven", group, artifact, version)


def _manifest_group(manifest: dict[str, str]) -> str:
    for key in _GROUP_FIELDS:
        value = manifest.get(key, "").split(";")[0].strip()
        if "." in value and value.split(".")[0].lower() in _DOMAINS and " " not in value:
            return value
    return ""


def _manifest_licenses(manifest: dict[str, str]) -> tuple[str, ...]:
    names = []
    for item in manifest.get("Bundle-License", "").split(","):
        value = item.split(";")[0].strip().strip('"')
        if not value:
            continue
        lowered = re.sub(r"^https?://", "", value.lower()).removeprefix("www.")
        names.append(_LICENSE_URLS.get(lowered) or _LICENSE_URLS.get("www." + lowered) or normalize(value))
    return tuple(dict.fromkeys(names))


@dataclass
class _Pom:
    group: str
    artifact: str
    version: str


@dataclass
class _Archive:
    """What one archive says about itself."""

    location: str  # "app.jar" or "app.jar:BOOT-INF/lib/x.jar"
    evidence: tuple[str, ...]
    filename: str
    sha1: str
    manifest: dict[str, str] | None
    poms: list[_Pom] = field(default_factory=list)
    nested: list[str] = field(default_factory=list)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise ArchiveError(f"{info.filename} is larger than {limit} bytes")
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise ArchiveError(f"{info.filename} is larger than {limit} bytes")
    return data


def _spool(stream: BinaryIO | IO[bytes], limit: int) -> tuple[IO[bytes], str]:
    """A seekable copy of ``stream`` (on disk past 16 MiB) and its SHA-1."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - returned open
    digest = hashlib.sha1()  # noqa: S324 - syft records the archive's SHA-1; an identifier, not security
    copied = 0
    while chunk := stream.read(1024 * 1024):
        copied += len(chunk)
        if copied > limit:
            spool.close()
            raise ArchiveError(f"archive larger than {limit} bytes")
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return spool, digest.hexdigest()


def _sha1_of(stream: BinaryIO) -> str:
    digest = hashlib.sha1()  # noqa: S324 - see _spool
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_EXTENSIONS)


def _inspect(
    stream: IO[bytes], location: str, evidence: tuple[str, ...], sha1: str, nested: bool
) -> _Archive:
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise ArchiveError(f"not a zip archive: {err}") from err
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ArchiveError(f"more than {MAX_ENTRIES} entries")
        result = _Archive(location, evidence, posixpath.basename(location.rsplit(":", 1)[-1]), sha1, None)
        manifests = [info for info in infos if info.filename.upper() == "META-INF/MANIFEST.MF"]
        if manifests:
            text = _read_member(archive, manifests[0], MAX_MANIFEST_SIZE).decode("utf-8", "replace")
            result.manifest = parse_manifest(text)
        for info in sorted(infos, key=lambda i: i.filename):
            if _POM_PROPERTIES.match(info.filename):
                props = parse_properties(
                    _read_member(archive, info, MAX_PROPERTIES_SIZE).decode("utf-8", "replace")
                )
                if props.get("artifactId"):
                    result.poms.append(
                        _Pom(props.get("groupId", ""), props["artifactId"], props.get("version", ""))
                    )
            elif not nested and not info.is_dir() and _is_archive_name(info.filename):
                result.nested.append(info.filename)
        return result


def _artifact_matches_filename(artifact: str, filename_name: str) -> bool:
    return bool(artifact and filename_name) and (
        artifact.startswith(filename_name) or filename_name.endswith(artifact)
    )


def _packages(archive: _Archive) -> list[Package]:
    stem = archive.filename
    for extension in ARCHIVE_EXTENSIONS:
        if stem.lower().endswith(extension):
            stem = stem[: -len(extension)]
            break
    match = _FILENAME.match(stem)
    file_name, file_version = (match.group("name"), match.group("version")) if match else (stem, "")

    packages: list[Package] = []
    main_pom: _Pom | None = None
    if archive.manifest is not None:
        main_pom = next((p for p in archive.poms if _artifact_matches_filename(p.artifact, file_name)), None)
        name = main_pom.artifact if main_pom else file_name
        version = main_pom.version if main_pom else file_version
        if not version:
            version = next((archive.manifest[k] for k in _VERSION_FIELDS if archive.manifest.get(k)), "")
        if main_pom is None:
            # A pom.properties naming the archive (same artifactId) completes it.
            main_pom = next((p for p in archive.poms if p.artifact == name), None)
            if main_pom is not None:
                name, version = main_pom.artifact, main_pom.version
        group = (main_pom.group if main_pom else "") or _manifest_group(archive.manifest) or name
        properties = {"virtual-path": archive.location}
        packages.append(
            Package(
                type="maven",
                name=name,
                version=version,
                purl=_maven_purl(group, name, version),
                evidence=archive.evidence,
                licenses=_manifest_licenses(archive.manifest),
                properties=properties,
                hashes={"sha1": archive.sha1},
                description=archive.manifest.get("Bundle-Description") or None,
                supplier=archive.manifest.get("Bundle-Vendor")
                or archive.manifest.get("Implementation-Vendor")
                or None,
            )
        )
    for pom in archive.poms:
        if pom is main_pom:
            continue
        packages.append(
            Package(
                type="maven",
                name=pom.artifact,
                version=pom.version,
                purl=_maven_purl(pom.group or pom.artifact, pom.artifact, pom.version),
                evidence=archive.evidence,
                properties={"virtual-path": f"{archive.location}:{pom.group}:{pom.artifact}"},
            )
        )
    return packages


class JavaCataloger:
    """Maven artifacts in Java archives, nested archives one level deep."""

    name = "java"

    def catalog(self, fs: FileView, context: CatalogContext) -> Sequence[Package]:
        packages: list[Package] = []
        for entry in fs.entries():
            if entry.type not in ("file", "hardlink") or not _is_archive_name(entry.path):
                continue
            if entry.size > MAX_ARCHIVE_SIZE:
                log.warning("skipping Java archive %s: larger than %d bytes", entry.path, MAX_ARCHIVE_SIZE)
                continue
            try:
                packages.extend(self._catalog_archive(fs, entry.path))
            except (ImageError, ArchiveError, OSError, zipfile.BadZipFile, NotImplementedError) as err:
                log.warning("skipping Java archive %s: %s", entry.path, err)
        return packages

    def _catalog_archive(self, fs: FileView, path: str) -> list[Package]:
        with fs.open(path) as raw:
            if raw.seekable():
                sha1 = _sha1_of(raw)
                archive = _inspect(raw, path, (path,), sha1, nested=False)
                return self._with_nested(archive, raw)
            spool, sha1 = _spool(raw, MAX_ARCHIVE_SIZE)
            with spool:
                archive = _inspect(spool, path, (path,), sha1, nested=False)
                return self._with_nested(archive, spool)

    @staticmethod
    def _with_nested(archive: _Archive, stream: IO[bytes]) -> list[Package]:
        packages = _packages(archive)
        if not archive.nested:
            return packages
        stream.seek(0)
        with zipfile.ZipFile(stream) as outer:
            for member in archive.nested:
                location = f"{archive.location}:{member}"
                try:
                    info = outer.getinfo(member)
                    if info.file_size > MAX_NESTED_SIZE:
                        raise ArchiveError(f"larger than {MAX_NESTED_SIZE} bytes")
                    with outer.open(info) as inner_raw:
                        spool, sha1 = _spool(inner_raw, MAX_NESTED_SIZE)
                    with spool:
                        inner = _inspect(spool, location, archive.evidence, sha1, nested=True)
                    packages.extend(_packages(inner))
                except (ArchiveError, OSError, zipfile.BadZipFile, NotImplementedError, KeyError) as err:
                    log.warning("skipping nested Java archive %s: %s", location, err)
        return packages
