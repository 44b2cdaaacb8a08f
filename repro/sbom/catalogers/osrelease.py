"""The image's operating system, from ``etc/os-release`` (or ``usr/lib/os-release``).

Not a package cataloger: :func:`find_distro` runs before the catalogers, because their
purls carry ``distro=`` (``debian-12``); the SBOM writer makes the operating-system
component from the :class:`~repro.sbom.model.Distro` it returns.

    >>> parse_os_release('ID=debian\\nVERSION_ID="12"\\nVERSION_CODENAME=bookworm\\n').purl_distro
    'debian-12'
"""

from __future__ import annotations

import logging
import shlex

from repro.errors import ImageError
from repro.layers.fileview import FileView
from repro.sbom.model import Distro

__all__ = ["OS_RELEASE_PATHS", "find_distro", "parse_os_release"]

logger = logging.getLogger(__name__)

#: Where os-release(5) says to look, in order. ``etc/os-release`` is usually a symlink to
#: ``../usr/lib/os-release``, so both are prefetched.
OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
#: The file is a few hundred bytes; anything much larger is not an os-release file.
MAX_OS_RELEASE_SIZE = 64 * 1024


def _value(raw: str) -> str:
    try:
        parts = shlex.split(raw, comments=False, posix=True)
    except ValueError:
        return raw.strip().strip("\"'")
    return " ".join(parts)


def parse_os_release(text: str) -> Distro | None:
    """Parse os-release(5) ``KEY=value`` lines (shell quoting); None without an ``ID``."""
    fields: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        fields[key.strip()] = _value(raw)
    distro_id = fields.get("ID", "").strip().lower()
    if not distro_id:
        return None
    return Distro(
        id=distro_id,
        version_id=fields.get("VERSION_ID") or None,
        version_codename=fields.get("VERSION_CODENAME") or None,
        name=fields.get("NAME") or None,
        pretty_name=fields.get("PRETTY_NAME") or None,
        id_like=tuple(fields.get("ID_LIKE", "").split()),
    )


def find_distro(fs: FileView) -> Distro | None:
    """The distro of the file system, or None when it has no readable os-release file."""
    for path in OS_RELEASE_PATHS:
        try:
            data = fs.read(path, max_size=MAX_OS_RELEASE_SIZE)
        except ImageError as exc:
            logger.debug("os-release: %s", exc)
            continue
        distro = parse_os_release(data.decode("utf-8", "replace"))
        if distro is not None:
            return distro
    return None
