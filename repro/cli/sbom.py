"""``repro sbom`` and ``sbom diff``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from repro.cli._commands import command_help
from repro.cli._common import _load_config, _Parser, _print_json
from repro.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from repro.platform import Platform

# --- repro sbom ----------------------------------------------------------------------


def _cmd_sbom(args: argparse.Namespace) -> int:
    if args.image == "diff":
        return _cmd_sbom_diff(args)
    if args.more:
        raise UsageError(f"repro sbom: unexpected argument {args.more[0]!r} (one IMAGE, or: diff OLD NEW)")
    if args.json:
        raise UsageError("--json goes with 'repro sbom diff'; the SBOM itself is JSON")
    from repro.fsutil import atomic_write
    from repro.images.location import is_local
    from repro.platform import parse_platforms
    from repro.sbom.formats import parse_outputs, platform_path
    from repro.sbom.generate import sboms_for_reference

    outputs = parse_outputs(args.output)
    platforms = parse_platforms(args.platform) if args.platform else ()
    config = None if is_local(args.image) else _load_config(args)
    to_stdout = [output.format for output in outputs if output.path is None]

    def one_stdout(found: Sequence[Platform | None]) -> None:
        if len(found) > 1 and to_stdout:
            described = ", ".join(str(platform) for platform in found)
            raise UsageError(
                f"{args.image} is an index of {len(found)} images ({described}): their {to_stdout[0]} "
                "SBOMs cannot all go to stdout",
                hint="choose one with --platform P, or write a file per platform with -o FORMAT=FILE",
            )

    sboms = sboms_for_reference(
        args.image,
        config=config,
        dockerfile=args.dockerfile,
        platforms=platforms,
        name=args.name,
        validate_in_worker=True,  # safe: the repro command's main module is guarded
        formats=[output.format for output in outputs],
        before_scan=one_stdout,
    )
    several = len(sboms) > 1
    for sbom in sboms:
        for output in outputs:
            document = sbom.documents[output.format]
            if output.path is None:
                sys.stdout.buffer.write(document)
                sys.stdout.flush()
                continue
            path = output.path
            if several and sbom.platform is not None:
                path = platform_path(path, sbom.platform)
            atomic_write(path, document)
            about = f" of {sbom.platform} ({sbom.digest.short})" if sbom.platform is not None else ""
            print(f"repro sbom: wrote {output.format}{about} to {path}", file=sys.stderr)
    return EXIT_OK


def _sbom_packages(text: str, args: argparse.Namespace) -> bytes:
    """An SBOM file's bytes, or the SBOM of an image (oci:DIR[:TAG] or a reference)."""
    from repro.images.location import is_local

    path = Path(text)
    if not is_local(text) and path.is_file():
        try:
            return path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{text}: cannot read: {exc.strerror}") from exc
    from repro.platform import Platform
    from repro.sbom.generate import sbom_for_reference

    platform = Platform.parse(args.platform) if args.platform else None
    config = None if is_local(text) else _load_config(args)
    return sbom_for_reference(text, config=config, platform=platform)


def _cmd_sbom_diff(args: argparse.Namespace) -> int:
    if len(args.more) != 2:
        raise UsageError("usage: repro sbom diff OLD NEW [--json] (SBOM files or images)")
    from repro.sbom.diff import diff_sboms

    old, new = (_sbom_packages(text, args) for text in args.more)
    diff = diff_sboms(old, new)
    if args.json:
        _print_json(diff.to_json())
    else:
        sys.stdout.write(diff.to_markdown())
    return EXIT_OK


def _add_sbom_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    sbom = commands.add_parser(
        "sbom",
        help=command_help("sbom"),
        description="Read IMAGE (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], or a "
        "registry reference, pulled and verified) layer by "
        "layer and write its SBOM: distro packages, language packages, and the executables no package "
        "owns, each with the layer that brought it, as CycloneDX 1.6 JSON, SPDX 2.3 JSON (both "
        "validated before they are written) or a table. "
        "An index gets one SBOM per platform image (--platform narrows the list): -o FORMAT=FILE then "
        "writes one file per platform, the platform after the first part of FILE's name "
        "(sbom.cdx.json: sbom.linux-arm64.cdx.json). "
        "'repro sbom diff OLD NEW' lists packages added, removed, upgraded and downgraded between two "
        "SBOM files or images (Markdown, or JSON with --json).",
    )
    sbom.add_argument(
        "image", metavar="IMAGE", help="oci:DIR[:TAG], an archive or a registry reference; or 'diff'"
    )
    sbom.add_argument("more", nargs="*", help=argparse.SUPPRESS)
    sbom.add_argument(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="FORMAT[=FILE]",
        help="write the SBOM in FORMAT (cyclonedx-json, spdx-json, table) to FILE or, without "
        "=FILE, to stdout; repeat for several formats from one scan (default: cyclonedx-json)",
    )
    sbom.add_argument(
        "--dockerfile", type=Path, metavar="FILE", help="the Dockerfile it was built from: adds file:line"
    )
    sbom.add_argument("--name", help="the image's name in the SBOM (default: from IMAGE)")
    sbom.add_argument(
        "--platform",
        metavar="P[,P…]",
        help="for an index: the platforms to describe (default: every one; with diff: the host's)",
    )
    sbom.add_argument("--json", action="store_true", help="with diff: print JSON instead of Markdown")
    sbom.set_defaults(handler=_cmd_sbom)
