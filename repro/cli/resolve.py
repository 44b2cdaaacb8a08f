"""``repro resolve``: image references to digests."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from repro.cli._commands import command_help
from repro.cli._common import _load_config, _Parser, _print_json
from repro.errors import EXIT_OK, Error

if TYPE_CHECKING:
    pass


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


def _add_resolve_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    resolve = commands.add_parser(
        "resolve",
        help=command_help("resolve"),
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
