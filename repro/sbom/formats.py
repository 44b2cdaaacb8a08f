"""SBOM output formats and the ``-o FORMAT[=FILE]`` option that picks them (as syft spells it).

    >>> parse_output("spdx-json=out/sbom.spdx.json")
    SbomOutput(format='spdx-json', path=PosixPath('out/sbom.spdx.json'))
    >>> parse_output("table")
    SbomOutput(format='table', path=None)

Each format is one writer module taking the same :class:`~repro.sbom.cyclonedx.Inventory`:
``cyclonedx-json`` (:mod:`repro.sbom.cyclonedx`), ``spdx-json`` (:mod:`repro.sbom.spdx`),
``table`` (:mod:`repro.sbom.table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import UsageError

if TYPE_CHECKING:
    from repro.platform import Platform
    from repro.sbom.cyclonedx import BackgroundValidator, Inventory

__all__ = ["FORMATS", "SbomOutput", "parse_output", "parse_outputs", "platform_path", "render_format"]

FORMATS = ("cyclonedx-json", "spdx-json", "table")


@dataclass(frozen=True)
class SbomOutput:
    """One requested output: a format and the file it goes to (None: stdout)."""

    format: str
    path: Path | None


def parse_output(text: str) -> SbomOutput:
    """``FORMAT`` (to stdout) or ``FORMAT=FILE``; a UsageError names the known formats."""
    name, sep, file = text.partition("=")
    if name not in FORMATS:
        known = ", ".join(FORMATS)
        if sep:
            raise UsageError(f"-o {text}: unknown SBOM format {name!r} (known: {known})")
        raise UsageError(
            f"-o {text}: {text!r} is not an SBOM format (known: {known})",
            hint=f"to write a file, give the format and the file: -o cyclonedx-json={text}",
        )
    if sep and not file:
        raise UsageError(f"-o {text}: no file after '=' (write FORMAT=FILE, or FORMAT for stdout)")
    return SbomOutput(name, None if not sep or file == "-" else Path(file))


def parse_outputs(texts: Sequence[str]) -> list[SbomOutput]:
    """Every ``-o`` value; at most one may go to stdout and no file may be named twice."""
    outputs = [parse_output(text) for text in texts] or [SbomOutput("cyclonedx-json", None)]
    to_stdout = [o.format for o in outputs if o.path is None]
    if len(to_stdout) > 1:
        raise UsageError(
            f"-o: {len(to_stdout)} formats would go to stdout ({', '.join(to_stdout)})",
            hint="give all but one a file: -o FORMAT=FILE",
        )
    paths = [o.path.resolve() for o in outputs if o.path is not None]
    if len(paths) != len(set(paths)):
        raise UsageError("-o: the same file is named twice")
    return outputs


def platform_path(path: Path, platform: Platform) -> Path:
    """Where the SBOM of one platform of an index goes when ``-o FORMAT=path`` names one file
    for several platforms: the platform, its parts joined by ``-``, after the first part of
    the file name.

    >>> from repro.platform import Platform
    >>> platform_path(Path("out/sbom.cdx.json"), Platform.parse("linux/arm/v7"))
    PosixPath('out/sbom.linux-arm-v7.cdx.json')
    >>> platform_path(Path("sbom"), Platform.parse("linux/amd64"))
    PosixPath('sbom.linux-amd64')
    """
    stem, dot, rest = path.name.partition(".")
    if not stem:  # a dot file: its name is what follows the dot
        stem, dot, rest = path.name, "", ""
    tag = "-".join(p for p in (platform.os, platform.architecture, platform.variant) if p)
    return path.with_name(f"{stem}.{tag}{dot}{rest}")


def render_format(inventory: Inventory, fmt: str, *, validator: BackgroundValidator | None = None) -> bytes:
    """The document of ``inventory`` in ``fmt`` (validated, for the machine formats)."""
    if fmt == "cyclonedx-json":
        from repro.sbom import cyclonedx

        return cyclonedx.render(inventory, validator=validator)
    if fmt == "spdx-json":
        from repro.sbom import spdx

        return spdx.render(inventory)
    if fmt == "table":
        from repro.sbom import table

        return table.render(inventory)
    raise UsageError(f"unknown SBOM format {fmt!r} (known: {', '.join(FORMATS)})")
