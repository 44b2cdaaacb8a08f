"""The ``repro`` command line: parse arguments, call the library, print the result.

Every command is a thin wrapper around a public function; the heavy modules are
imported inside the command so that ``repro --help`` and ``repro pin --check`` start
fast. Errors are caught here and only here: one line on stderr, a hint, and the exit
code documented in the README (the traceback with ``-v``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from repro import __version__
from repro.cli._commands import COMMAND_GROUPS, group_of
from repro.cli._common import Handler, _Parser, _report
from repro.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError, as_error
from repro.redact import RedactingFilter

logger = logging.getLogger("repro")

# --- parser --------------------------------------------------------------------------


#: Options accepted before or after the command: ``repro -v build`` = ``repro build -v``.
GLOBAL_OPTIONS_NOTE = "-v, --config and --json may also come after the command"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of the whole command line.

    With ``command`` (a top-level command name, or "" for none), only that command's group
    is complete: every other command is a placeholder that carries its help line, which is
    all ``repro --help`` shows, so start-up does not import what the other commands' flags
    need. :func:`main` parses again with the complete parser whenever a placeholder is hit.
    """
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

    placeholders: set[int] = set()
    for group in COMMAND_GROUPS:
        if command is None or command in group.commands:
            add_commands: Callable[[argparse._SubParsersAction[_Parser]], None] = getattr(
                importlib.import_module(group.module), group.adder
            )
            add_commands(commands)
        else:
            for name, text in group.commands.items():
                placeholders.add(id(commands.add_parser(name, help=text, add_help=False)))
    for command_parser in _command_parsers(parser):
        if id(command_parser) not in placeholders:
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


def _command_named(argv: Sequence[str]) -> str:
    """The command ``argv`` most likely runs: its first word that is not an option (nor the
    value of ``--config``), if that names a command; "" otherwise. Only a guess, checked
    by :func:`_parse`."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif word == "--" or not word.startswith("-"):
            return word if group_of(word) is not None else ""
    return ""


def _parse(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Parse ``argv`` with a parser complete only for the command it names; when that guess
    was wrong (the parse failed, or reached another command), parse again with the
    complete parser, whose result and errors are then the answer."""
    guess = _command_named(argv)
    parser = build_parser(guess)
    try:
        args = parser.parse_args(argv)
        if (args.command or "") == guess:
            return parser, args
    except UsageError:
        pass
    parser = build_parser()
    return parser, parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: sys.argv[1:]) and return the exit code.

    Every outcome has a documented exit code: a repro error its own, a file the system
    refuses (permissions, a missing directory) 74, Ctrl-C 130, and anything unexpected
    -- a bug -- 70 with the traceback under ``-v``; never 1, which means "check failed".
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    verbose = 1 if os.environ.get("REPRO_DEBUG") else 0
    try:
        parser, args = _parse(argv)
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
