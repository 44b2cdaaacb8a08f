"""``repro push``: an image layout and its referrers to a registry or another layout."""

from __future__ import annotations

import argparse
import sys

from repro.cli._common import _load_config, _Parser, _print_json
from repro.errors import EXIT_OK, UsageError

# --- repro push ----------------------------------------------------------------------


def _cmd_push(args: argparse.Namespace) -> int:
    import time
    from contextlib import ExitStack

    from repro.images.location import LayoutLocation, RegistryLocation, parse_layout_location, parse_location
    from repro.images.push import PushEvent, push_image, target_tag
    from repro.images.store import open_store
    from repro.oci.layout import ImageLayout

    source = parse_layout_location(args.source, what="SOURCE")
    target = parse_location(args.target, what="TARGET")
    layout = ImageLayout.open(source.directory)

    def progress(event: PushEvent) -> None:
        if args.verbose:
            print(
                f"repro: {event.kind} {event.digest.short} {event.size} B: {event.outcome}", file=sys.stderr
            )

    started = time.monotonic()
    with ExitStack() as stack:
        client = None
        if isinstance(target, RegistryLocation):
            from repro.registry import RegistryClient

            client = stack.enter_context(RegistryClient(_load_config(args)))
            tag, expect = target_tag(target.ref), target.ref.digest
        elif args.mount_from:
            raise UsageError("--mount-from only applies to a registry target")
        else:
            tag, expect = (
                (target.tag if isinstance(target, LayoutLocation) else None) or source.tag or "latest",
                None,
            )
        store = open_store(target, client=client, create=True, what="TARGET")
        result = push_image(
            layout,
            source.tag,
            store,
            tag=tag,
            expect=expect,
            include_referrers=not args.no_referrers,
            mount_from=args.mount_from,
            progress=progress,
        )
    if args.json:
        _print_json(result.to_json())
    else:
        print(result.pinned)
    print(
        f"repro push: {result.pinned}: {result.blobs_pushed} blob(s) pushed "
        f"({result.bytes_pushed / 1e6:.1f} MB), {result.blobs_reused} reused, "
        f"{len(result.referrers)} referrer(s) in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return EXIT_OK


def _add_push_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    push = commands.add_parser(
        "push",
        help="push an image from an OCI layout, with its referrers",
        description="Push the image in an OCI layout (every platform of an index) and the referrers the "
        "layout holds for it (signatures, SBOMs, attestations) to TARGET: blobs first (those already "
        "there are not sent again), then manifests, then referrers, and the tag last, so a failed push "
        "leaves no tag behind. Bytes are pushed as they are: the digest does not change. TARGET is a "
        "registry reference (tag default: latest; NAME@DIGEST pushes by digest only) or another layout, "
        "oci:DIR[:TAG]. Prints TARGET:TAG@DIGEST.",
    )
    push.add_argument("source", metavar="oci:DIR[:TAG]", help="the layout and tag of the image to push")
    push.add_argument("target", metavar="TARGET", help="REGISTRY/NAME[:TAG][@DIGEST] or oci:DIR[:TAG]")
    push.add_argument(
        "--mount-from",
        metavar="REPO",
        help="mount blobs from this repository of the same registry instead of uploading them",
    )
    push.add_argument("--no-referrers", action="store_true", help="push the image only")
    push.add_argument("--json", action="store_true", help="print JSON on stdout")
    push.set_defaults(handler=_cmd_push)
