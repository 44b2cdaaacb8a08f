"""What catalogers see and what they report.

A cataloger reads an image's final filesystem through a
:class:`~repro.layers.fileview.FileView` (layers already
merged, whiteouts applied, nothing extracted to disk) and returns :class:`Package` values.
The SBOM writer turns those into CycloneDX; nothing in a cataloger knows about CycloneDX.

A new ecosystem is a new module in :mod:`repro.sbom.catalogers` with one class that
satisfies :class:`Cataloger`, listed in ``repro.sbom.catalogers.ALL``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from repro.digest import Digest
from repro.layers.fileview import FileView


@dataclass(frozen=True)
class Distro:
    """The image's operating system, from ``etc/os-release`` (or ``usr/lib/os-release``)."""

    id: str  # "debian"
    version_id: str | None  # "12"
    version_codename: str | None = None  # "bookworm"
    name: str | None = None  # "Debian GNU/Linux"
    pretty_name: str | None = None
    id_like: tuple[str, ...] = ()

    @property
    def purl_distro(self) -> str:
        """The ``distro=`` qualifier as syft writes it: ``debian-12``."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True)
class Package:
    """A piece of software a cataloger found.

    ``purl`` is the identity (it becomes the CycloneDX bom-ref); two packages with the same
    purl found at several places are one component with several ``locations``.
    ``evidence`` is the file that told the cataloger about the package (status file, METADATA,
    package.json, the jar, the binary); ``files`` are the paths the package owns (so they are
    not reported as unowned). ``depends_on`` holds purls of other packages, resolved by the
    cataloger (alternatives and virtual packages already decided).
    """

    type: str  # "deb", "apk", "rpm", "pypi", "npm", "golang", "maven", "generic"
    name: str
    version: str
    purl: str
    evidence: tuple[str, ...]
    licenses: tuple[str, ...] = ()  # SPDX expressions or ids where known, else names
    files: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)  # e.g. "source", "arch"
    supplier: str | None = None
    description: str | None = None
    hashes: Mapping[str, str] = field(default_factory=dict)  # algorithm -> hex (e.g. of a jar)


@dataclass(frozen=True)
class CatalogContext:
    """What every cataloger may need besides the files."""

    distro: Distro | None
    architecture: str  # from the image config: "amd64"


class Cataloger(Protocol):
    """Finds one kind of package in a filesystem."""

    name: str  # "dpkg", "python", …

    def catalog(self, fs: FileView, context: CatalogContext) -> Sequence[Package]: ...


@dataclass(frozen=True)
class LayerProperties:
    """A layer as the SBOM describes it: the ``repro:layer*`` properties of a component.

    (Where a layer came from in the Dockerfile is :class:`repro.reproduce.history.LayerOrigin`.)
    """

    index: int
    digest: Digest
    diff_id: Digest
    created_by: str | None  # the history entry
    instruction: str | None = None  # "RUN apt-get install …" when known
    location: str | None = None  # "Dockerfile:7" when known


# --- optional extras (appended; nothing above depends on them) -------------------------------

#: A cataloger that knows exactly which layer introduced a package (dpkg, from the status
#: file of each layer) puts the layer index in ``Package.properties`` under this key; for
#: the others the SBOM writer attributes a package to the layer its evidence came from.
LAYER_PROPERTY = "repro:layer:index"


class CatalogerHints(Protocol):
    """Optional class attributes of a :class:`Cataloger` that make the file scan cheaper.

    ``prefetch``: globs of the files the cataloger will ``read`` (status files, metadata):
    they are read in the one pass over the layers instead of a second pass per layer.
    ``track``: globs of files whose version in every layer it needs (``versions``).
    A cataloger without them still works; its reads may cost a pass over a layer each.
    """

    prefetch: tuple[str, ...]
    track: tuple[str, ...]
