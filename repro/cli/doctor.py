"""``repro doctor``: what each feature needs on this machine, one line each, with the fix."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro.cli._commands import command_help
from repro.cli._common import _load_config, _Parser, _print_json
from repro.errors import EXIT_CHECK_FAILED, EXIT_OK


def _cmd_doctor(args: argparse.Namespace) -> int:
    from repro.doctor import run_doctor
    from repro.platform import parse_platforms

    config = _load_config(args, Path(args.path))
    report = run_doctor(
        config,
        platforms=parse_platforms(args.platform) if args.platform else (),
        key=args.key,
        check_registries=not args.offline,
    )
    if args.json:
        _print_json(report.to_json())
    else:
        sys.stdout.write(report.to_text())
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _add_doctor_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    doctor = commands.add_parser(
        "doctor",
        help=command_help("doctor"),
        description="Check what repro's features need here, one line each with the fix: the "
        "configuration used for PATH, buildah (version and the Dockerfile features it builds), "
        "docker and skopeo (optional), the emulators for other platforms, each configured "
        "registry and mirror (contacted with the scheme, CA and timeout repro would use), the "
        "credentials found for them (never printed) and the signing key. Exit 1 when something "
        "a configured or requested feature needs is missing.",
    )
    doctor.add_argument(
        "path", nargs="?", default=".", metavar="PATH", help="a Dockerfile or directory (default: .)"
    )
    doctor.add_argument(
        "--platform", metavar="P[,P…]", help="platforms you build: their emulators become required"
    )
    doctor.add_argument("--key", type=Path, metavar="PATH", help="the private signing key to check")
    doctor.add_argument(
        "--offline",
        action="store_true",
        help="do not contact the registries (credentials are still looked up)",
    )
    doctor.add_argument("--json", action="store_true", help="print JSON on stdout")
    doctor.set_defaults(handler=_cmd_doctor)
