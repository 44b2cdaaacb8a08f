"""What every command module shares: the parser class, config loading, JSON output, common flags."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from repro import redact
from repro.errors import Error, UsageError

if TYPE_CHECKING:
    from repro.build.engine import BuildSecret
    from repro.config import Config
    from repro.platform import Platform


Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors go through repro's error hierarchy (exit 64)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _load_config(args: argparse.Namespace, *starts: Path) -> Config:
    """The configuration for the files the command works on (the Dockerfile, then the
    build context), else the current directory's; ``--config`` wins."""
    from repro.config import load_config

    return load_config(starts, explicit=args.config)


def _add_progress_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--progress",
        choices=("auto", "tty", "plain"),
        default="auto",
        help="progress on stderr: tty redraws the running step with a timer and its last output "
        "lines, plain prints one line per event with its time (default auto: tty on a terminal "
        "unless TERM=dumb)",
    )


def _print_json(data: object, out: TextIO | None = None) -> None:
    json.dump(data, out or sys.stdout, indent=2, sort_keys=True)
    (out or sys.stdout).write("\n")


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
    # Whatever happens next, these values stay out of logs, errors and reports.
    redact.remember(value for name, value in values.items() if redact.looks_secret(name, value))
    return values


def _secrets(args: argparse.Namespace) -> tuple[BuildSecret, ...]:
    """The ``--secret`` options; their values are kept out of every log, error and report."""
    from repro.build.secrets import parse_secrets, secret_value

    secrets = parse_secrets(args.secret or ())
    for secret in secrets:
        text = secret_value(secret).decode("utf-8", "replace")
        redact.remember([text.strip(), *(line.strip() for line in text.splitlines())])
    return secrets


def _warn_secret_build_args(build_args: dict[str, str]) -> None:
    """Say loudly that a secret-looking build argument will be recorded in the image."""
    for name, value in sorted(build_args.items()):
        reason = redact.secret_reason(name, value)
        if reason is not None:
            print(
                f"repro: WARNING: build argument {name} looks like a secret ({reason}): "
                "build-argument values used by RUN are recorded in the image history for "
                f"anyone who pulls it; pass it with --secret id={name},src=FILE and "
                f"RUN --mount=type=secret,id={name} instead (repro release refuses it)",
                file=sys.stderr,
            )


def _output_format(args: argparse.Namespace, default: str) -> str:
    if args.json:
        if args.format not in (None, "json"):
            raise UsageError("--json and --format are exclusive")
        return "json"
    return str(args.format or default)


def _report(err: Error, verbose: int) -> None:
    if verbose:
        sys.stderr.write(redact.redact_text("".join(traceback.format_exception(err))))
    print(f"repro: error: {redact.redact_text(str(err))}", file=sys.stderr)
    if err.hint:
        print(f"hint: {redact.redact_text(err.hint)}", file=sys.stderr)


def _scrub_arg(args: argparse.Namespace) -> tuple[str, ...]:
    names: list[str] = []
    for item in args.scrub or ():
        names += [name.strip() for name in item.split(",") if name.strip()]
    return tuple(dict.fromkeys(names))


def _dockerfile_arg(args: argparse.Namespace) -> Path | None:
    """``-f FILE``; ``-f -`` reads the Dockerfile from stdin into a private file."""
    if args.file is None:
        return None
    if args.file != "-":
        return Path(args.file)
    import atexit
    import shutil
    import tempfile

    data = sys.stdin.buffer.read()
    if not data.strip():
        raise UsageError("-f -: no Dockerfile on stdin")
    directory = Path(tempfile.mkdtemp(prefix="repro-stdin-"))
    atexit.register(shutil.rmtree, directory, True)
    path = directory / "Dockerfile"
    path.write_bytes(data)
    return path
