"""``repro push``: an image layout and its referrers to a registry or another layout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from repro.cli._commands import command_help
from repro.cli._common import _load_config, _Parser, _print_json
from repro.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from repro.images.location import ImageLocation, LayoutLocation
    from repro.images.store import ImageStore

# --- repro push ----------------------------------------------------------------------


def _cmd_push(args: argparse.Namespace) -> int:
    import tempfile

    from repro.images.location import ArchiveLocation, LayoutLocation, is_local, parse_location

    if not is_local(args.source):
        raise UsageError(
            f"SOURCE {args.source}: give oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]"
        )
    source = parse_location(args.source, what="SOURCE")
    target = parse_location(args.target, what="TARGET")
    source_tag = source.tag if isinstance(source, LayoutLocation) else None
    unpacked = tempfile.TemporaryDirectory(prefix="repro-push-")
    try:
        if isinstance(source, ArchiveLocation):
            from repro.images.archive import unpack_archive

            if source.format == "docker-archive" and source.reference:
                source_tag = source.reference.rpartition(":")[2]
            elif source.format == "oci-archive":
                source_tag = source.reference
            source = unpack_archive(source, Path(unpacked.name) / "layout")
        assert isinstance(source, LayoutLocation)  # noqa: S101 (local, and an archive is unpacked)
        return _push(args, source, target, source_tag, Path(unpacked.name))
    finally:
        unpacked.cleanup()


def _push(
    args: argparse.Namespace,
    source: LayoutLocation,
    target: ImageLocation,
    source_tag: str | None,
    workdir: Path,
) -> int:
    """Push ``source`` to ``target``; an archive target is a layout under ``workdir``, packed last."""
    import dataclasses
    import time
    from contextlib import ExitStack

    from repro.images.location import ArchiveLocation, LayoutLocation, RegistryLocation
    from repro.images.push import PushEvent, push_image, target_tag
    from repro.images.store import open_store
    from repro.oci.layout import ImageLayout

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
                (target.tag if isinstance(target, LayoutLocation) else None) or source_tag or "latest",
                None,
            )
        archive = target if isinstance(target, ArchiveLocation) else None
        if archive is not None:
            from repro.fsutil import check_writable
            from repro.images.archive import archive_tag
            from repro.images.store import LayoutStore

            check_writable(archive.file)  # before anything is copied
            tag = archive_tag(archive) or source_tag or "latest"  # the layout's tag, packed below
            store: ImageStore = LayoutStore.create(workdir / "archive")
        else:
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
    if archive is not None:
        from repro.images.archive import write_archive

        if archive.format == "docker-archive" and result.referrers:
            raise UsageError(
                f"TARGET {archive.text}: a docker archive cannot hold the image's {len(result.referrers)} "
                "referrers (signatures, SBOMs, attestations)",
                hint="write oci-archive:FILE[:TAG] to keep them, or give --no-referrers to leave them out",
            )
        write_archive(workdir / "archive", archive, tag=tag or "latest")
        result = dataclasses.replace(result, target=archive.display, tag=None)
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
        help=command_help("push"),
        description="Push the image in an OCI layout or an image archive (every platform of an index) "
        "and the referrers the "
        "layout holds for it (signatures, SBOMs, attestations) to TARGET: blobs first (those already "
        "there are not sent again), then manifests, then referrers, and the tag last, so a failed push "
        "leaves no tag behind. Bytes are pushed as they are: the digest does not change. TARGET is a "
        "registry reference (tag default: latest; NAME@DIGEST pushes by digest only), another layout, "
        "oci:DIR[:TAG], or an archive: oci-archive:FILE[:TAG] keeps the referrers, docker-archive:FILE"
        "[:NAME:TAG] (what docker load reads) holds one platform's image and no referrers. Prints "
        "TARGET:TAG@DIGEST.",
    )
    push.add_argument(
        "source",
        metavar="SOURCE",
        help="the image to push: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]",
    )
    push.add_argument(
        "target", metavar="TARGET", help="REGISTRY/NAME[:TAG][@DIGEST], oci:DIR[:TAG] or an archive"
    )
    push.add_argument(
        "--mount-from",
        metavar="REPO",
        help="mount blobs from this repository of the same registry instead of uploading them",
    )
    push.add_argument("--no-referrers", action="store_true", help="push the image only")
    push.add_argument("--json", action="store_true", help="print JSON on stdout")
    push.set_defaults(handler=_cmd_push)
