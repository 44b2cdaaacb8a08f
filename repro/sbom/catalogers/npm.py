"""Installed npm packages: every ``package.json`` with a name, as syft's image cataloger reads them.

Mostly ``node_modules/**/package.json``; an application's own manifest (``app/package.json``)
is reported too, as syft does. Dependencies are resolved the way Node's ``require`` finds
them: ``node_modules/NAME`` next to the package, then in each directory above it. Files
under a package's directory (but not in a nested ``node_modules``) belong to it.

    pkg:npm/%40types/node@20.11.5
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from repro.errors import ImageError
from repro.layers.fileview import FileView
from repro.sbom import purl
from repro.sbom.licenses import normalize
from repro.sbom.model import CatalogContext, Package

__all__ = ["NpmCataloger", "npm_purl"]

log = logging.getLogger(__name__)

MAX_MANIFEST_SIZE = 4 * 1024 * 1024
_DEPENDENCY_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")


def npm_purl(name: str, version: str) -> str:
    """``@scope/name`` is a namespace and a name: ``pkg:npm/%40scope/name@1.0.0``."""
    namespace, _, bare = name.rpartition("/") if name.startswith("@") else ("", "", name)
    return purl.build("npm", namespace, bare, version)


@dataclass(frozen=True)
class _Manifest:
    path: str
    directory: str
    name: str
    version: str
    licenses: tuple[str, ...]
    dependencies: tuple[str, ...]
    description: str | None
    author: str | None

    @property
    def purl(self) -> str:
        return npm_purl(self.name, self.version)


def _license_names(document: dict[str, Any]) -> tuple[str, ...]:
    values: list[Any] = []
    for key in ("license", "licenses"):
        value = document.get(key)
        values.extend(value if isinstance(value, list) else [value])
    names = []
    for value in values:
        name = value.get("type") if isinstance(value, dict) else value
        if isinstance(name, str) and name.strip():
            names.append(normalize(name))
    return tuple(dict.fromkeys(names))


def _author(document: dict[str, Any]) -> str | None:
    author = document.get("author")
    if isinstance(author, dict):
        author = author.get("name")
    return author.strip() or None if isinstance(author, str) else None


def _parse(path: str, data: bytes) -> _Manifest | None:
    document = json.loads(data.decode("utf-8-sig"))
    if not isinstance(document, dict):
        raise ValueError("package.json is not an object")
    name, version = document.get("name"), document.get("version", "")
    if not isinstance(name, str) or not name.strip():
        return None  # no name: a build or test fixture, not a package
    if not isinstance(version, str):
        raise ValueError("version is not a string")
    dependencies: list[str] = []
    for field in _DEPENDENCY_FIELDS:
        value = document.get(field)
        if isinstance(value, dict):
            dependencies.extend(key for key in value if isinstance(key, str) and key)
    description = document.get("description")
    return _Manifest(
        path=path,
        directory=posixpath.dirname(path),
        name=name.strip(),
        version=version.strip(),
        licenses=_license_names(document),
        dependencies=tuple(dict.fromkeys(dependencies)),
        description=description.strip() or None if isinstance(description, str) else None,
        author=_author(document),
    )


def _package_directory(path: str) -> str | None:
    """The ``…/node_modules/NAME`` (or ``@scope/NAME``) directory that owns ``path``."""
    parts = path.split("/")
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] == "node_modules":
            scoped = index + 1 < len(parts) and parts[index + 1].startswith("@")
            end = index + (3 if scoped else 2)
            return "/".join(parts[:end]) if end <= len(parts) else None
    return None


class NpmCataloger:
    """npm packages from their installed ``package.json`` files."""

    name = "npm"

    def catalog(self, fs: FileView, context: CatalogContext) -> Sequence[Package]:
        manifests: dict[str, _Manifest] = {}  # by directory
        for entry in fs.glob("*package.json"):
            if entry.type not in ("file", "hardlink") or posixpath.basename(entry.path) != "package.json":
                continue
            try:
                manifest = _parse(entry.path, fs.read(entry.path, max_size=MAX_MANIFEST_SIZE))
            except (ImageError, ValueError, UnicodeError, RecursionError) as err:
                log.warning("skipping npm package %s: %s", entry.path, err)
                continue
            if manifest is not None:
                manifests[manifest.directory] = manifest

        owned: dict[str, list[str]] = {}
        for entry in fs.entries():
            directory = _package_directory(entry.path)
            if directory is not None and directory in manifests and entry.path != directory:
                owned.setdefault(directory, []).append(entry.path)

        packages = []
        for manifest in manifests.values():
            depends: dict[str, None] = {}
            for dependency in manifest.dependencies:
                target = self._resolve(manifests, manifest.directory, dependency)
                if target is not None and target.purl != manifest.purl:
                    depends[target.purl] = None
            packages.append(
                Package(
                    type="npm",
                    name=manifest.name,
                    version=manifest.version,
                    purl=manifest.purl,
                    evidence=(manifest.path,),
                    licenses=manifest.licenses,
                    files=tuple(owned.get(manifest.directory, ())),
                    depends_on=tuple(depends),
                    supplier=manifest.author,
                    description=manifest.description,
                )
            )
        return packages

    @staticmethod
    def _resolve(manifests: dict[str, _Manifest], directory: str, dependency: str) -> _Manifest | None:
        # Node's lookup: DIR/node_modules/NAME, then each parent's node_modules (a
        # directory called node_modules never gets a node_modules of its own).
        current = directory
        while True:
            if posixpath.basename(current) != "node_modules":
                candidate = manifests.get(posixpath.join(current, "node_modules", dependency))
                if candidate is not None:
                    return candidate
            if not current:
                return None
            current = posixpath.dirname(current)
