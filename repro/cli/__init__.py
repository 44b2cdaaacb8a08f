"""The ``repro`` command line: parse arguments, call the library, print the result.

Every command is a thin wrapper around a public function; the heavy modules are
imported inside the command so that ``repro --help`` and ``repro pin --check`` start
fast. Errors are caught here and only here: one line on stderr, a hint, and the exit
code documented in the README (the traceback with ``-v``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from repro import __version__
from repro.cli._common import Handler, _Parser, _report
from repro.cli.attest import _add_attest_commands
from repro.cli.build import _add_build_commands
from repro.cli.pin import _add_pin_commands
from repro.cli.policy import _add_policy_commands
from repro.cli.push import _add_push_command
from repro.cli.release import _add_release_command
from repro.cli.resolve import _add_resolve_command
from repro.cli.sbom import _add_sbom_commands
from repro.errors import EXIT_INTERRUPTED, EXIT_OK, Error, UsageError

logger = logging.getLogger("repro")

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

    _add_resolve_command(commands)
    _add_pin_commands(commands)
    _add_build_commands(commands)
    _add_sbom_commands(commands)
    _add_push_command(commands)
    _add_attest_commands(commands)
    _add_policy_commands(commands)
    _add_release_command(commands)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # requests/urllib3 log URLs at debug level; keep them quiet unless asked for twice.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)


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
