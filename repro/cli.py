"""The ``repro`` command line: parse arguments, call the library, print the result.

Every command is a thin wrapper around a public function; the heavy modules are
imported inside the command so that ``repro --help`` and ``repro pin --check`` start
fast. Errors are caught here and only here: one line on stderr, a hint, and the exit
code documented in the README (the traceback with ``-v``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from repro import __version__
from repro.errors import EXIT_INTERRUPTED, EXIT_OK, Error, UsageError

if TYPE_CHECKING:
    from repro.config import Config

logger = logging.getLogger("repro")

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors go through repro's error hierarchy (exit 64)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _load_config(args: argparse.Namespace, start: Path | None = None) -> Config:
    from repro.config import load_config

    return load_config(start, explicit=args.config)


def _print_json(data: object, out: TextIO | None = None) -> None:
    json.dump(data, out or sys.stdout, indent=2, sort_keys=True)
    (out or sys.stdout).write("\n")


# --- repro resolve -------------------------------------------------------------------


def _cmd_resolve(args: argparse.Namespace) -> int:
    from repro.platform import parse_platforms
    from repro.reference import parse_reference
    from repro.registry import RegistryClient

    refs = [parse_reference(text) for text in args.refs]
    platforms = parse_platforms(args.platform) if args.platform else ()
    config = _load_config(args)
    with RegistryClient(config) as client:
        results = [client.resolve(ref, platforms=platforms) for ref in refs]
    if args.json:
        _print_json([result.to_json() for result in results])
        return EXIT_OK
    for result in results:
        print(f"{result.ref.text}\t{result.digest}")
        for entry in result.platforms:
            print(f"  {entry.platform}\t{entry.digest}")
    return EXIT_OK


# --- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="repro",
        description="Reproducible container builds: pin, build, verify, SBOM, sign, push, gate.",
    )
    parser.add_argument("--version", action="version", version=f"repro {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output on stderr; -v shows tracebacks"
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=None,
        help="configuration file (default: $REPRO_CONFIG, else repro.toml or pyproject.toml found nearby)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    resolve = commands.add_parser(
        "resolve",
        help="resolve image references to digests",
        description="Resolve each image reference to its manifest (or index) digest, "
        "and for an index the digest of each platform's manifest.",
    )
    resolve.add_argument("refs", nargs="+", metavar="REF", help="image reference, e.g. debian:bookworm")
    resolve.add_argument(
        "--platform",
        metavar="P[,P…]",
        help="require these platforms (e.g. linux/amd64,linux/arm64) and print their digests",
    )
    resolve.add_argument("--json", action="store_true", help="print JSON on stdout")
    resolve.set_defaults(handler=_cmd_resolve)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # requests/urllib3 log URLs at debug level; keep them quiet unless asked for twice.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)


def _report(err: Error, verbose: int) -> None:
    if verbose:
        traceback.print_exception(err, file=sys.stderr)
    print(f"repro: error: {err}", file=sys.stderr)
    if err.hint:
        print(f"hint: {err.hint}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: sys.argv[1:]) and return the exit code."""
    parser = build_parser()
    verbose = 0
    try:
        args = parser.parse_args(argv)
        verbose = args.verbose
        _configure_logging(verbose)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            raise UsageError("no command given")
        return handler(args)
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except Error as err:
        _report(err, verbose or (1 if os.environ.get("REPRO_DEBUG") else 0))
        return err.exit_code
    except KeyboardInterrupt:
        print("repro: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
