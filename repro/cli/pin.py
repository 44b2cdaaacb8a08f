"""``repro pin``, ``pin --check`` and ``refresh``: the commands that read and rewrite Dockerfiles."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from repro.cli._commands import command_help
from repro.cli._common import _build_args, _load_config, _output_format, _Parser, _platforms_arg, _print_json
from repro.errors import EXIT_CHANGED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from repro.config import Config
    from repro.platform import Platform


def _lockfile_args(args: argparse.Namespace, config: Config) -> tuple[Path | None, bool]:
    """The lock file to use (flag, else configuration) and whether to write one."""
    if args.no_lock and args.lockfile is not None:
        raise UsageError("--lockfile and --no-lock are exclusive")
    return args.lockfile or config.lockfile, not args.no_lock


class _PinInputs(NamedTuple):
    """What pin, pin --check and refresh all read from their command line."""

    paths: list[str]
    config: Config
    lockfile: Path | None
    write_lock: bool
    platforms: tuple[Platform, ...]
    build_args: dict[str, str]


def _pin_inputs(args: argparse.Namespace) -> _PinInputs:
    paths = args.paths or ["."]
    config = _load_config(args, Path(paths[0]))
    lockfile, write_lock = _lockfile_args(args, config)
    return _PinInputs(paths, config, lockfile, write_lock, _platforms_arg(args), _build_args(args))


def _cmd_pin(args: argparse.Namespace) -> int:
    if args.check:
        return _cmd_pin_check(args)
    if args.fresh:
        raise UsageError("--fresh only goes with --check")
    fmt = _output_format(args, "human")
    if fmt == "github":
        raise UsageError("--format github only goes with --check")
    from repro.pin import Action, pin_paths
    from repro.pin.render import failures_human, pin_diff, pin_human
    from repro.registry.client import RegistryClient

    given = _pin_inputs(args)
    with RegistryClient(given.config) as client:
        report = pin_paths(
            given.paths,
            client=client,
            platforms=given.platforms,
            update=args.update,
            dry_run=args.dry_run,
            lockfile=given.lockfile,
            write_lock=given.write_lock,
            build_args=given.build_args,
            fail_fast=args.fail_fast,
        )
    if fmt == "json":
        _print_json(report.to_json())
    elif args.dry_run:
        sys.stdout.write(pin_diff(report))
    else:
        sys.stdout.write(pin_human(report))
    if fmt != "json":
        sys.stderr.write(failures_human(report.failures))
    counts = {action: sum(r.action is action for r in report.results) for action in Action}
    verb = "would change" if args.dry_run else "changed"
    undone = f"; {len(report.failures)} left undone" if report.failures else ""
    print(
        f"repro pin: {counts[Action.PINNED]} pinned, {counts[Action.UPDATED]} updated, "
        f"{counts[Action.UNCHANGED]} unchanged, {counts[Action.SKIPPED]} skipped; "
        f"{verb} {len(report.changes)} file(s){undone}",
        file=sys.stderr,
    )
    return report.exit_code


def _cmd_pin_check(args: argparse.Namespace) -> int:
    if args.update or args.dry_run:
        raise UsageError("--check does not write: drop --update and --dry-run")
    fmt = _output_format(args, "human")
    from repro.pin import check_paths
    from repro.pin.render import check_github, check_human

    given = _pin_inputs(args)
    with ExitStack() as stack:
        client = None
        if args.fresh or len(given.platforms) > 1:  # the registry tells what no lock records
            from repro.registry.client import RegistryClient

            client = stack.enter_context(RegistryClient(given.config))
        report = check_paths(
            given.paths,
            client=client,
            fresh=args.fresh,
            platforms=given.platforms,
            lockfile=given.lockfile,
            build_args=given.build_args,
            allow_empty=args.allow_empty,
            fail_fast=args.fail_fast,
        )
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
    if report.empty:
        verdict = "nothing was checked" + (
            " (--allow-empty)" if args.allow_empty else "; pass --allow-empty if that is expected"
        )
    print(
        f"repro pin --check: {report.checked} image reference(s) in {report.files} file(s): {verdict}",
        file=sys.stderr,
    )
    return report.exit_code


def _cmd_refresh(args: argparse.Namespace) -> int:
    fmt = _output_format(args, "markdown")
    from repro.pin import refresh_paths
    from repro.pin.render import failures_human, refresh_human, refresh_markdown
    from repro.registry.client import RegistryClient

    if args.commit and args.dry_run:
        raise UsageError("--commit and --dry-run exclude each other (a dry run writes nothing to commit)")
    given = _pin_inputs(args)
    with RegistryClient(given.config) as client:
        report = refresh_paths(
            given.paths,
            client=client,
            platforms=given.platforms,
            dry_run=args.dry_run,
            lockfile=given.lockfile,
            write_lock=given.write_lock,
            build_args=given.build_args,
            fail_fast=args.fail_fast,
        )
    if fmt == "json":
        _print_json(report.to_json())
    elif fmt == "human":
        sys.stdout.write(refresh_human(report))
    else:
        sys.stdout.write(refresh_markdown(report))
    if args.dry_run and fmt != "json":
        sys.stderr.write("".join(change.unified_diff() for change in report.file_changes))
    if fmt != "json":
        sys.stderr.write(failures_human(report.failures))
    if report.exit_code != EXIT_OK:
        return report.exit_code
    if args.commit and report.changed:
        from repro.pin.gitcommit import commit_files

        written = [change.path for change in report.file_changes if change.written]
        message = "Refresh pinned base images\n\n" + refresh_markdown(report)
        branch = commit_files([*written, *report.lockfiles], message)
        print(f"repro refresh: committed on branch {branch}", file=sys.stderr)
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
    command.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first file or reference that cannot be handled, writing nothing",
    )


def _add_pin_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    pin = commands.add_parser(
        "pin",
        help=command_help("pin"),
        description="Rewrite every external image of the Dockerfiles under PATH to name:tag@sha256:DIGEST "
        "(only those bytes change), and record what each resolved to in repro.lock. "
        "With --check, change nothing and exit 1 if an image is not pinned; with --check --fresh, "
        "also exit 2 if a pinned tag has moved and 3 if the registry could not be asked. "
        "Every file is handled on its own: what cannot be is listed as FILE:LINE: reason, "
        "the rest is still done, and the exit code is 8.",
    )
    _add_path_options(pin)
    pin.add_argument(
        "--check",
        action="store_true",
        help="only check that every image is pinned (no network unless --fresh or several --platform)",
    )
    pin.add_argument(
        "--fresh", action="store_true", help="with --check: also check that no pinned tag has moved"
    )
    pin.add_argument(
        "--allow-empty", action="store_true", help="with --check: pass when no Dockerfile is found"
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
        help=command_help("refresh"),
        description="Re-resolve the tag of every pinned image; where it moved, rewrite the digest in place "
        "and in repro.lock, and print a Markdown summary fit for a pull request.",
    )
    _add_path_options(refresh)
    refresh.add_argument("--dry-run", action="store_true", help="write nothing; the diff goes to stderr")
    refresh.add_argument(
        "--commit",
        action="store_true",
        help="commit the rewritten files on a new branch repro/refresh-ID, the Markdown summary as "
        "the message (then: git push, gh pr create --fill)",
    )
    refresh.add_argument(
        "--exit-code", action="store_true", help=f"exit {EXIT_CHANGED} when something changed"
    )
    refresh.add_argument(
        "--format", choices=("markdown", "human", "json"), help="output format (default: markdown)"
    )
    refresh.set_defaults(handler=_cmd_refresh)
