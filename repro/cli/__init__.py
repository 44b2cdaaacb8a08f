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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from repro import __version__
from repro.cli._common import Handler, _Parser, _report
from repro.cli.attest import _add_attest_commands
from repro.cli.build import _add_build_commands
from repro.cli.completion import _add_completion_command
from repro.cli.doctor import _add_doctor_command
from repro.cli.pin import _add_pin_commands
from repro.cli.plan import _add_plan_command
from repro.cli.policy import _add_policy_commands
from repro.cli.push import _add_push_command
from repro.cli.release import _add_release_command
from repro.cli.resolve import _add_resolve_command
from repro.cli.sbom import _add_sbom_commands
from repro.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError, as_error
from repro.redact import RedactingFilter

logger = logging.getLogger("repro")

# --- parser --------------------------------------------------------------------------


#: Options accepted before or after the command: ``repro -v build`` = ``repro build -v``.
GLOBAL_OPTIONS_NOTE = "-v, --config and --json may also come after the command"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="repro",
        description="Reproducible container builds: pin, build, verify, SBOM, sign, push, gate.",
        epilog=GLOBAL_OPTIONS_NOTE + ".",
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
    parser.add_argument(
        "--json", dest="global_json", action="store_true", help="print JSON on stdout (commands that report)"
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
    _add_plan_command(commands)
    _add_doctor_command(commands)
    _add_completion_command(commands)
    for command_parser in _command_parsers(parser):
        _add_global_options(command_parser)
    return parser


def _command_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below ``parser`` that runs a command (the leaves of the command tree)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                if any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
                    yield from _command_parsers(child)
                else:
                    yield child


def _add_global_options(command: argparse.ArgumentParser) -> None:
    # Under their own names and absent unless given, so that the value given before the
    # command is not overwritten by the command parser's defaults; merged in _merge_globals.
    # Their help is the top-level help: each command's help stays about the command.
    command.add_argument(
        "-v",
        "--verbose",
        dest="late_verbose",
        action="count",
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
    command.add_argument(
        "--config", dest="late_config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    if "json" not in {a.dest for a in command._actions}:
        command.add_argument(
            "--json",
            dest="global_json",
            action="store_true",
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


def _merge_globals(args: argparse.Namespace) -> None:
    """Fold the global options given after the command into those given before it."""
    args.verbose = int(args.verbose) + int(getattr(args, "late_verbose", 0))
    late_config: Path | None = getattr(args, "late_config", None)
    if late_config is not None:
        if args.config is not None and args.config != late_config:
            raise UsageError(f"--config given twice: {args.config} and {late_config}")
        args.config = late_config
    if getattr(args, "global_json", False):
        if not hasattr(args, "json"):
            raise UsageError(f"--json: 'repro {args.command}' has no JSON output")
        args.json = True


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    # requests/urllib3 log URLs at debug level; keep them quiet unless asked for twice.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: sys.argv[1:]) and return the exit code.

    Every outcome has a documented exit code: a repro error its own, a file the system
    refuses (permissions, a missing directory) 74, Ctrl-C 130, and anything unexpected
    -- a bug -- 70 with the traceback under ``-v``; never 1, which means "check failed".
    """
    parser = build_parser()
    verbose = 1 if os.environ.get("REPRO_DEBUG") else 0
    try:
        args = parser.parse_args(argv)
        _merge_globals(args)
        verbose = max(verbose, args.verbose)
        _configure_logging(verbose)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            raise UsageError("no command given")
        return handler(args)
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except KeyboardInterrupt:
        print("repro: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        err = as_error(exc)
        _report(err, verbose)
        return err.exit_code


def run() -> NoReturn:
    """The ``repro`` console script: :func:`main`, then exit with its code.

    After Ctrl-C the process ends at once: threads still blocked in a network read (a
    registry that stopped answering) would otherwise be waited for at interpreter exit.
    """
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
