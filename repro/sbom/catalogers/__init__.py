"""Every package cataloger repro runs, one module per ecosystem.

``ALL`` is the list :func:`repro.sbom.generate.generate_sbom` runs, in this order. A new
ecosystem is a module here with a class satisfying :class:`repro.sbom.model.Cataloger`,
added to ``ALL``. The operating system is not a cataloger: see :mod:`.osrelease`.

The file scan reads the files catalogers will want in its one pass over the layers; a
cataloger says which with ``prefetch`` globs (:class:`~repro.sbom.model.CatalogerHints`).
:data:`DEFAULT_HINTS` supplies them for catalogers that do not declare their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from repro.sbom.catalogers.apk import ApkCataloger
from repro.sbom.catalogers.dpkg import DpkgCataloger
from repro.sbom.catalogers.golang import GoCataloger
from repro.sbom.catalogers.java import JavaCataloger
from repro.sbom.catalogers.npm import NpmCataloger
from repro.sbom.catalogers.python import PythonCataloger
from repro.sbom.catalogers.rpm import RpmCataloger
from repro.sbom.model import Cataloger

__all__ = ["ALL", "DEFAULT_HINTS", "prefetch_globs", "track_globs"]

ALL: Sequence[Cataloger] = (
    DpkgCataloger(),
    ApkCataloger(),
    RpmCataloger(),
    PythonCataloger(),
    NpmCataloger(),
    GoCataloger(),
    JavaCataloger(),
)

#: ``prefetch`` globs by cataloger name, for catalogers without their own. (Go reads
#: ELF binaries, which the scan keeps anyway: see ``ImageFilesystem.scan``.)
DEFAULT_HINTS: Mapping[str, tuple[str, ...]] = {
    "apk": ("lib/apk/db/installed", "usr/lib/apk/db/installed"),
    "rpm": ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"),
    "python": (
        "*.dist-info/METADATA",
        "*.dist-info/RECORD",
        "*.dist-info/direct_url.json",
        "*.dist-info/top_level.txt",
        "*.egg-info",
        "*.egg-info/PKG-INFO",
        "*.egg-info/installed-files.txt",
        "*.egg-info/top_level.txt",
    ),
    "npm": ("*package.json",),
    "java": ("*.jar", "*.war", "*.ear", "*/pom.properties", "*/pom.xml"),
}


def prefetch_globs(catalogers: Sequence[Cataloger]) -> list[str]:
    """The union of the catalogers' ``prefetch`` globs (or their :data:`DEFAULT_HINTS`)."""
    globs: set[str] = set()
    for cataloger in catalogers:
        globs.update(getattr(cataloger, "prefetch", None) or DEFAULT_HINTS.get(cataloger.name, ()))
    return sorted(globs)


def track_globs(catalogers: Sequence[Cataloger]) -> list[str]:
    """The union of the catalogers' ``track`` globs (files kept in every layer's version)."""
    return sorted({glob for c in catalogers for glob in getattr(c, "track", ())})
