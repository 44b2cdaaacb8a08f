"""``repro plan``: the GitHub Actions matrix of the Dockerfiles under a path, one release each."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from repro.cli._commands import command_help
from repro.cli._common import _output_format, _Parser, _print_json
from repro.errors import EXIT_OK, FileAccessError


def _cmd_plan(args: argparse.Namespace) -> int:
    fmt = _output_format(args, "json")
    from repro.pin.plan import plan_releases

    plan = plan_releases(args.paths or ["."], pattern=args.image, allow_empty=args.allow_empty)
    for path, why in plan.passed_over:
        print(f"repro plan: skipped {path}: {why}", file=sys.stderr)
    if fmt == "json":
        _print_json(plan.matrix())
    else:
        # One line: a GitHub output value may not span lines without a heredoc delimiter.
        line = "matrix=" + json.dumps(plan.matrix(), sort_keys=True, separators=(",", ":")) + "\n"
        output = os.environ.get("GITHUB_OUTPUT")
        if output:
            try:
                with Path(output).open("a", encoding="utf-8") as handle:
                    handle.write(line)
            except OSError as err:
                raise FileAccessError(
                    f"{output}: cannot append the matrix ($GITHUB_OUTPUT): {err.strerror}"
                ) from err
            print(f"repro plan: wrote matrix to $GITHUB_OUTPUT ({output})", file=sys.stderr)
        else:
            sys.stdout.write(line)
    empty = " (--allow-empty)" if not plan.releases else ""
    print(f"repro plan: {len(plan.releases)} image(s) to release{empty}", file=sys.stderr)
    return EXIT_OK


def _add_plan_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    plan = commands.add_parser(
        "plan",
        help=command_help("plan"),
        description="Find the Dockerfiles under PATH as repro pin does and print a GitHub Actions matrix, "
        '{"include": [{"name", "dockerfile", "context", "image"}, ...]}, one entry per Dockerfile in a '
        "stable order, for one `repro release CONTEXT -f DOCKERFILE --image IMAGE` job each. The context "
        "is the Dockerfile's directory. IMAGE comes from --image PATTERN: {name} is the directory's name "
        "(-VARIANT added for Dockerfile.VARIANT or VARIANT.Dockerfile), {path} the directory relative to "
        "PATH; two Dockerfiles released as one image are refused. Finding no Dockerfile exits 9 unless "
        "--allow-empty.",
    )
    plan.add_argument(
        "paths", nargs="*", metavar="PATH", help="Dockerfiles, or directories to search for them (default: .)"
    )
    plan.add_argument(
        "--image",
        default="{name}",
        metavar="PATTERN",
        help="the image each Dockerfile is released as, e.g. ghcr.io/acme/{name}:1.0 (default: {name})",
    )
    plan.add_argument(
        "--format",
        choices=("json", "github"),
        help="json (default): the matrix on stdout; github: one line matrix=JSON appended to "
        "$GITHUB_OUTPUT when set, else printed",
    )
    plan.add_argument("--json", action="store_true", help="same as --format json")
    plan.add_argument(
        "--allow-empty", action="store_true", help="pass with an empty matrix when nothing is found"
    )
    plan.set_defaults(handler=_cmd_plan)
