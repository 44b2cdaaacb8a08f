"""Build contexts for the build and verify integration tests.

Each directory holds a ``Dockerfile.in`` whose ``{busybox}``, ``{busybox_tag}`` and
``{debian}`` name the test-bed registry's images (pinned, except ``busybox_tag``), and the
files the build copies. :func:`make_context` writes a ready context.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from devtools.testbed import BaseImages

ASSETS = Path(__file__).resolve().parent


def make_context(name: str, destination: Path, images: BaseImages) -> Path:
    """Copy the context ``name`` to ``destination`` with its Dockerfile filled in."""
    shutil.copytree(ASSETS / name, destination, ignore=shutil.ignore_patterns("Dockerfile.in"))
    template = (ASSETS / name / "Dockerfile.in").read_text()
    values = {
        "busybox": images.busybox.pinned,
        "busybox_tag": images.busybox.reference,
        "debian": images.debian.pinned if images.debian is not None else "debian-is-missing",
    }
    (destination / "Dockerfile").write_text(template.format(**values))
    return destination
