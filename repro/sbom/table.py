"""The ``table`` SBOM format: one line per package, for a person reading a terminal.

    NAME      VERSION         TYPE  LAYER  FROM
    libc6     2.36-9+deb12u8  deb   0      mmdebstrap bookworm

Not a machine format (use ``cyclonedx-json`` or ``spdx-json`` for that); the columns are
padded to the longest value and the rows sorted by type, then name, then version.
"""

from __future__ import annotations

from repro.sbom.cyclonedx import Inventory

__all__ = ["render"]

_MAX_FROM = 60  # a long RUN line is cut: the table is for reading


def _clean(text: str) -> str:
    return " ".join(text.split())  # no tab, line break or escape sequence reaches the terminal


def render(inventory: Inventory) -> bytes:
    """The table as UTF-8 text ending in a newline."""
    rows = [("NAME", "VERSION", "TYPE", "LAYER", "FROM")]
    for item in sorted(
        inventory.components, key=lambda c: (c.package.type, c.package.name, c.package.version)
    ):
        pkg, origin = item.package, item.origin
        source = ""
        if origin is not None:
            source = origin.location or origin.instruction or origin.created_by or ""
        source = _clean(source)
        if len(source) > _MAX_FROM:
            source = source[: _MAX_FROM - 1] + "…"
        layer = str(origin.index) if origin is not None else ""
        rows.append((_clean(pkg.name), _clean(pkg.version), pkg.type, layer, source))
    for unowned in inventory.unowned:
        where = str(unowned.origin.index) if unowned.origin is not None else ""
        rows.append((f"/{_clean(unowned.path)}", "", f"unowned {unowned.kind}", where, ""))
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    if inventory.unowned_total > len(inventory.unowned):
        lines.append(f"({inventory.unowned_total} unowned binaries, not listed)")
    return ("\n".join(lines) + "\n").encode("utf-8")
