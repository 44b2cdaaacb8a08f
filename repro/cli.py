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
from repro.errors import EXIT_CHANGED, EXIT_INTERRUPTED, EXIT_OK, Error, UsageError

if TYPE_CHECKING:
    from repro.config import Config
    from repro.platform import Platform

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
        outcomes = client.resolve_many(refs, platforms=platforms)
    results = []
    for ref in dict.fromkeys(refs):
        outcome = outcomes[ref]
        if isinstance(outcome, Error):
            raise outcome
        results.append(outcome)
    if args.json:
        _print_json([result.to_json() for result in results])
        return EXIT_OK
    for result in results:
        print(f"{result.ref.text}\t{result.digest}")
        for entry in result.platforms:
            print(f"  {entry.platform}\t{entry.digest}")
    return EXIT_OK


# --- repro pin / repro refresh -------------------------------------------------------


def _platforms_arg(args: argparse.Namespace) -> tuple[Platform, ...]:
    from repro.platform import parse_platforms

    return parse_platforms(args.platform) if args.platform else ()


def _build_args(args: argparse.Namespace) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in args.build_arg or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--build-arg: expected NAME=VALUE, got {item!r}")
        values[name] = value
    return values


def _output_format(args: argparse.Namespace, default: str) -> str:
    if args.json:
        if args.format not in (None, "json"):
            raise UsageError("--json and --format are exclusive")
        return "json"
    return str(args.format or default)


def _lockfile_args(args: argparse.Namespace, config: Config) -> tuple[Path | None, bool]:
    """The lock file to use (flag, else configuration) and whether to write one."""
    if args.no_lock and args.lockfile is not None:
        raise UsageError("--lockfile and --no-lock are exclusive")
    return args.lockfile or config.lockfile, not args.no_lock


def _cmd_pin(args: argparse.Namespace) -> int:
    if args.check:
        return _cmd_pin_check(args)
    if args.fresh:
        raise UsageError("--fresh only goes with --check")
    fmt = _output_format(args, "human")
    if fmt == "github":
        raise UsageError("--format github only goes with --check")
    from repro.pin import Action, pin_paths
    from repro.pin.render import pin_diff, pin_human
    from repro.registry.client import RegistryClient

    paths = args.paths or ["."]
    config = _load_config(args, Path(paths[0]))
    lockfile, write_lock = _lockfile_args(args, config)
    platforms = _platforms_arg(args)
    with RegistryClient(config) as client:
        report = pin_paths(
            paths,
            client=client,
            platforms=platforms,
            update=args.update,
            dry_run=args.dry_run,
            lockfile=lockfile,
            write_lock=write_lock,
            build_args=_build_args(args),
        )
    if fmt == "json":
        _print_json(report.to_json())
    elif args.dry_run:
        sys.stdout.write(pin_diff(report))
    else:
        sys.stdout.write(pin_human(report))
    counts = {action: sum(r.action is action for r in report.results) for action in Action}
    verb = "would change" if args.dry_run else "changed"
    print(
        f"repro pin: {counts[Action.PINNED]} pinned, {counts[Action.UPDATED]} updated, "
        f"{counts[Action.UNCHANGED]} unchanged, {counts[Action.SKIPPED]} skipped; "
        f"{verb} {len(report.changes)} file(s)",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_pin_check(args: argparse.Namespace) -> int:
    if args.update or args.dry_run:
        raise UsageError("--check does not write: drop --update and --dry-run")
    fmt = _output_format(args, "human")
    from repro.pin import check_paths
    from repro.pin.render import check_github, check_human

    paths = args.paths or ["."]
    config = _load_config(args, Path(paths[0]))
    lockfile, _ = _lockfile_args(args, config)
    platforms = _platforms_arg(args)
    if args.fresh:
        from repro.registry.client import RegistryClient

        with RegistryClient(config) as client:
            report = check_paths(
                paths, client=client, fresh=True, platforms=platforms, lockfile=lockfile,
                build_args=_build_args(args),
            )  # fmt: skip
    else:
        report = check_paths(paths, platforms=platforms, lockfile=lockfile, build_args=_build_args(args))
    if fmt == "json":
        _print_json(report.to_json())
    elif fmt == "github":
        sys.stdout.write(check_github(report))
    else:
        sys.stdout.write(check_human(report))
    problems = len(report.errors)
    verdict = (
        f"{problems} problem(s)" if problems else "all pinned" + (" and current" if report.fresh else "")
    )
    print(
        f"repro pin --check: {report.checked} image reference(s) in {report.files} file(s): {verdict}",
        file=sys.stderr,
    )
    return report.exit_code


def _cmd_refresh(args: argparse.Namespace) -> int:
    fmt = _output_format(args, "markdown")
    from repro.pin import refresh_paths
    from repro.pin.render import refresh_human, refresh_markdown
    from repro.registry.client import RegistryClient

    paths = args.paths or ["."]
    config = _load_config(args, Path(paths[0]))
    lockfile, write_lock = _lockfile_args(args, config)
    platforms = _platforms_arg(args)
    with RegistryClient(config) as client:
        report = refresh_paths(
            paths,
            client=client,
            platforms=platforms,
            dry_run=args.dry_run,
            lockfile=lockfile,
            write_lock=write_lock,
            build_args=_build_args(args),
        )
    if fmt == "json":
        _print_json(report.to_json())
    elif fmt == "human":
        sys.stdout.write(refresh_human(report))
    else:
        sys.stdout.write(refresh_markdown(report))
    if args.dry_run and fmt != "json":
        sys.stderr.write("".join(change.unified_diff() for change in report.file_changes))
    if report.changed and args.exit_code:
        return EXIT_CHANGED
    return EXIT_OK


def _add_path_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "paths", nargs="*", metavar="PATH", help="Dockerfiles, or directories to search for them (default: .)"
    )
    command.add_argument(
        "--platform", metavar="P[,P…]", help="the build's target platforms; each index must contain them all"
    )
    command.add_argument(
        "--lockfile",
        type=Path,
        metavar="FILE",
        help="one lock file at FILE (default: repro.lock next to each Dockerfile)",
    )
    command.add_argument("--no-lock", action="store_true", help="do not read or write repro.lock")
    command.add_argument(
        "--build-arg", action="append", metavar="NAME=VALUE", help="value of a global ARG, as for the build"
    )
    command.add_argument("--json", action="store_true", help="print JSON on stdout (same as --format json)")


def _add_pin_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    pin = commands.add_parser(
        "pin",
        help="pin FROM (and other) image tags to digests",
        description="Rewrite every external image of the Dockerfiles under PATH to name:tag@sha256:DIGEST "
        "(only those bytes change), and record what each resolved to in repro.lock. "
        "With --check, change nothing and exit 1 if an image is not pinned; with --check --fresh, "
        "also exit 2 if a pinned tag has moved and 3 if the registry could not be asked.",
    )
    _add_path_options(pin)
    pin.add_argument(
        "--check", action="store_true", help="only check that every image is pinned (no network)"
    )
    pin.add_argument(
        "--fresh", action="store_true", help="with --check: also check that no pinned tag has moved"
    )
    pin.add_argument("--update", action="store_true", help="re-resolve already pinned tags too")
    pin.add_argument("--dry-run", action="store_true", help="write nothing; print a unified diff")
    pin.add_argument(
        "--format",
        choices=("human", "json", "github"),
        help="output format (github: workflow annotations, with --check)",
    )
    pin.set_defaults(handler=_cmd_pin)

    refresh = commands.add_parser(
        "refresh",
        help="move pinned digests to where their tags point now",
        description="Re-resolve the tag of every pinned image; where it moved, rewrite the digest in place "
        "and in repro.lock, and print a Markdown summary fit for a pull request.",
    )
    _add_path_options(refresh)
    refresh.add_argument("--dry-run", action="store_true", help="write nothing; the diff goes to stderr")
    refresh.add_argument(
        "--exit-code", action="store_true", help=f"exit {EXIT_CHANGED} when something changed"
    )
    refresh.add_argument(
        "--format", choices=("markdown", "human", "json"), help="output format (default: markdown)"
    )
    refresh.set_defaults(handler=_cmd_refresh)


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
    _add_pin_commands(commands)
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
