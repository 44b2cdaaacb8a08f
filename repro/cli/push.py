"""``repro push``: an image layout and its referrers to a registry."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from repro.cli._common import _load_config, _Parser, _print_json
from repro.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    pass


# --- repro push ----------------------------------------------------------------------


def _cmd_push(args: argparse.Namespace) -> int:
    import time

    from repro.oci.layout import ImageLayout, parse_layout_ref
    from repro.push import PushEvent, export_layout, layout_referrers, plan_image, push_image

    if not args.source.startswith("oci:"):
        raise UsageError(f"{args.source}: give the image to push as oci:DIR[:TAG]")
    directory, tag = parse_layout_ref(args.source)
    layout = ImageLayout.open(directory)

    def progress(event: PushEvent) -> None:
        if args.verbose:
            print(
                f"repro: {event.kind} {event.digest.short} {event.size} B: {event.outcome}", file=sys.stderr
            )

    started = time.monotonic()
    if args.target.startswith("oci:"):
        if args.mount_from:
            raise UsageError("--mount-from only applies to a registry target")
        dest, dest_tag = parse_layout_ref(args.target)
        result = export_layout(
            layout,
            tag,
            dest,
            dest_tag=dest_tag or tag,
            include_referrers=not args.no_referrers,
            progress=progress,
        )
    else:
        from repro.reference import parse_reference
        from repro.registry import RegistryClient

        target = parse_reference(args.target)
        descriptor = layout.find(tag)
        referrers = []
        if not args.no_referrers:
            referrers = layout_referrers(layout, plan_image(layout, descriptor).subjects)
        with RegistryClient(_load_config(args)) as client:
            result = push_image(
                layout,
                descriptor,
                target,
                client=client,
                referrers=referrers,
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
