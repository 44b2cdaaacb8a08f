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
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, NoReturn, TextIO

from repro import __version__
from repro.errors import EXIT_CHANGED, EXIT_INTERRUPTED, EXIT_OK, Error, UsageError

if TYPE_CHECKING:
    from repro.build import BuildEvent, BuildSpec
    from repro.config import Config
    from repro.oci.diff import LayoutImage
    from repro.platform import Platform
    from repro.registry import RegistryClient
    from repro.release import ReleaseOptions, ReleaseReport

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
    from repro.pin.render import pin_diff, pin_human
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

    given = _pin_inputs(args)
    with ExitStack() as stack:
        client = None
        if args.fresh:
            from repro.registry.client import RegistryClient

            client = stack.enter_context(RegistryClient(given.config))
        report = check_paths(
            given.paths,
            client=client,
            fresh=args.fresh,
            platforms=given.platforms,
            lockfile=given.lockfile,
            build_args=given.build_args,
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


# --- repro build / verify / diff -----------------------------------------------------


class _Progress:
    """Prints build progress on stderr: each instruction with the time since the start,
    repro's own phases, and with -v every line the engine prints."""

    def __init__(self, verbose: int, out: TextIO | None = None) -> None:
        self.verbose = verbose
        self.out = out or sys.stderr

    def __call__(self, event: BuildEvent) -> None:
        who = f"[{event.build}] " if event.build else ""
        if event.kind == "output":
            if self.verbose:
                print(f"{who}| {event.text}", file=self.out, flush=True)
            return
        if event.kind == "step":
            stage = f"stage {event.stage}/{event.stages} " if event.stages > 1 else ""
            line = f"{stage}step {event.step}/{event.steps}: {event.instruction}"
        else:
            line = event.text
        print(f"repro: {who}{line}  (+{event.elapsed:.1f} s)", file=self.out, flush=True)


def _scrub_arg(args: argparse.Namespace) -> tuple[str, ...]:
    names: list[str] = []
    for item in args.scrub or ():
        names += [name.strip() for name in item.split(",") if name.strip()]
    return tuple(dict.fromkeys(names))


def _build_spec(args: argparse.Namespace, *, output_required: bool) -> BuildSpec:
    from repro.build import BuildSpec
    from repro.oci.layout import parse_layout_ref

    output, tag = None, None
    if args.output is not None:
        if not args.output.startswith("oci:"):
            raise UsageError(f"-o {args.output}: write the output as oci:DIR[:TAG]")
        output, tag = parse_layout_ref(args.output)
    elif output_required:
        raise UsageError("repro build needs an output: -o oci:DIR[:TAG]")
    return BuildSpec(
        context=Path(args.context),
        output=output,
        tag=tag or "latest",
        dockerfile=args.file,
        target=args.target,
        build_args=_build_args(args),
        platform=args.platform,
        scrub=_scrub_arg(args),
        allow_unpinned=args.allow_unpinned,
    )


def _cmd_build(args: argparse.Namespace) -> int:
    if args.verify:
        return _cmd_verify(args)
    from repro.build import build

    spec = _build_spec(args, output_required=True)
    result = build(spec, config=_load_config(args, spec.dockerfile_path), progress=_Progress(args.verbose))
    if args.json:
        _print_json(result.to_json())
    else:
        print(result.digest)
    epoch = f"SOURCE_DATE_EPOCH={result.source_date_epoch} ({result.epoch_source})"
    print(
        f"repro build: {result.reference} {result.digest} in {result.duration:.1f} s; {epoch}",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from repro.errors import EXIT_NOT_REPRODUCIBLE, NotReproducibleError
    from repro.verify import verify

    spec = _build_spec(args, output_required=args.command == "build")
    concurrent = False if args.sequential else None
    result = verify(
        spec,
        config=_load_config(args, spec.dockerfile_path),
        progress=_Progress(args.verbose),
        concurrent=concurrent,
    )
    if args.json:
        _print_json(result.to_json())
    elif result.reproducible:
        print(f"reproducible {result.digest}")
    elif result.diff is not None:
        from repro.oci.diff import render_text

        sys.stdout.write(render_text(result.diff))
    else:
        print(f"not reproducible {result.builds[0].digest} {result.builds[1].digest}")
    mode = "concurrently" if result.concurrent else "one after the other"
    print(f"repro verify: two builds {mode} in {result.duration:.1f} s", file=sys.stderr)
    if result.reproducible:
        return EXIT_OK
    _report(
        NotReproducibleError(
            f"not reproducible: two builds gave {result.builds[0].digest} and {result.builds[1].digest}",
            hint="see the report on stdout; --scrub removes known volatile files (see the README)",
        ),
        0,
    )
    return EXIT_NOT_REPRODUCIBLE


def _open_for_diff(
    text: str, client_box: list[RegistryClient], args: argparse.Namespace, workdir: Path
) -> LayoutImage:
    from repro.oci.diff import open_image

    if text.startswith("oci:"):
        return open_image(text)
    import dataclasses

    from repro.oci.pull import pull_image
    from repro.platform import Platform
    from repro.reference import parse_reference
    from repro.registry import RegistryClient

    ref = parse_reference(text)
    if not client_box:
        client_box.append(RegistryClient(_load_config(args)))
    destination = workdir / f"image-{len(list(workdir.iterdir()))}"
    platform = Platform.parse(args.platform) if args.platform else None
    pull_image(client_box[0], ref, destination, tag="image", platform=platform)
    return dataclasses.replace(open_image(f"oci:{destination}:image"), name=ref.text)


def _cmd_diff(args: argparse.Namespace) -> int:
    import tempfile

    from repro.errors import EXIT_NOT_REPRODUCIBLE
    from repro.oci.diff import diff_images, render_text

    dockerfile = None
    if args.file is not None:
        from repro.dockerfile import parse

        try:
            data = args.file.read_bytes()
        except OSError as exc:
            raise UsageError(f"{args.file}: cannot read: {exc.strerror}") from exc
        dockerfile = parse(data, filename=str(args.file))
    clients: list[RegistryClient] = []
    with tempfile.TemporaryDirectory(prefix="repro-diff-") as tmp:
        try:
            a = _open_for_diff(args.a, clients, args, Path(tmp))
            b = _open_for_diff(args.b, clients, args, Path(tmp))
        finally:
            for client in clients:
                client.close()
        diff = diff_images(a, b, dockerfile=dockerfile, target=args.target, build_args=_build_args(args))
    if args.json:
        _print_json(diff.to_json())
    else:
        sys.stdout.write(render_text(diff))
    return EXIT_OK if diff.identical else EXIT_NOT_REPRODUCIBLE


def _add_build_options(command: argparse.ArgumentParser, *, output_required: bool) -> None:
    from repro.oci.scrub import profile_names

    command.add_argument("context", metavar="CONTEXT", help="the build context directory")
    command.add_argument(
        "-f", "--file", type=Path, metavar="FILE", help="the Dockerfile (default: CONTEXT/Dockerfile)"
    )
    command.add_argument("--target", metavar="STAGE", help="build this stage (default: the last)")
    command.add_argument(
        "--build-arg", action="append", metavar="NAME=VALUE", help="a build argument (repeatable)"
    )
    command.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="the platform to build for")
    command.add_argument(
        "-o",
        "--output",
        metavar="oci:DIR[:TAG]",
        help="write the image to this OCI layout (TAG default: latest)"
        + ("" if output_required else "; only when reproducible"),
    )
    command.add_argument(
        "--scrub",
        action="append",
        metavar="P[,P…]",
        help=f"remove the volatile files of these profiles: {', '.join(profile_names())} (see the README)",
    )
    command.add_argument(
        "--allow-unpinned", action="store_true", help="build even if an image is not pinned to a digest"
    )
    command.add_argument("--json", action="store_true", help="print JSON on stdout")


def _add_build_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    build = commands.add_parser(
        "build",
        help="build an image reproducibly into an OCI layout",
        description="Build CONTEXT with buildah in storage of its own, with every time stamp set to "
        "SOURCE_DATE_EPOCH (from the environment, else the git HEAD commit time, else 0), then "
        "normalise the image and write it to the -o layout. Refuses images not pinned to a digest. "
        "Prints the image digest.",
    )
    _add_build_options(build, output_required=True)
    build.add_argument(
        "--verify", action="store_true", help="build twice and write the image only if both agree"
    )
    build.add_argument("--sequential", action="store_true", help=argparse.SUPPRESS)
    build.set_defaults(handler=_cmd_build)

    verify = commands.add_parser(
        "verify",
        help="build twice, independently, and compare the digests",
        description="Build CONTEXT twice, each from its own copy of the context with its own storage, "
        "time zone, locale and umask, normalise both images and compare them. Prints "
        "'reproducible sha256:…' and exits 0, or prints what differs (the first differing layer, "
        "its Dockerfile line, each differing path, likely causes and fixes) and exits 6.",
    )
    _add_build_options(verify, output_required=False)
    verify.add_argument("--sequential", action="store_true", help="run the two builds one after the other")
    verify.set_defaults(handler=_cmd_verify)

    diff = commands.add_parser(
        "diff",
        help="compare two images and explain the differences",
        description="Compare two images, each an OCI layout (oci:DIR[:TAG]) or a registry reference, "
        "and report what differs as 'repro verify' does. Exits 0 when they are identical, 6 when "
        "they differ.",
    )
    diff.add_argument("a", metavar="A", help="oci:DIR[:TAG] or an image reference")
    diff.add_argument("b", metavar="B", help="oci:DIR[:TAG] or an image reference")
    diff.add_argument(
        "-f", "--file", type=Path, metavar="FILE", help="the Dockerfile both were built from (for file:line)"
    )
    diff.add_argument("--target", metavar="STAGE", help="the stage that was built")
    diff.add_argument(
        "--build-arg", action="append", metavar="NAME=VALUE", help="a build argument of the build"
    )
    diff.add_argument(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="for a multi-platform reference (default: this machine's)",
    )
    diff.add_argument("--json", action="store_true", help="print JSON on stdout")
    diff.set_defaults(handler=_cmd_diff)


# --- repro sbom ----------------------------------------------------------------------


def _cmd_sbom(args: argparse.Namespace) -> int:
    if args.image == "diff":
        return _cmd_sbom_diff(args)
    if args.more:
        raise UsageError(f"repro sbom: unexpected argument {args.more[0]!r} (one IMAGE, or: diff OLD NEW)")
    if args.json:
        raise UsageError("--json goes with 'repro sbom diff'; the SBOM itself is JSON")
    from repro.platform import Platform
    from repro.sbom.generate import sbom_for_reference

    platform = Platform.parse(args.platform) if args.platform else None
    config = None if args.image.startswith("oci:") else _load_config(args)
    document = sbom_for_reference(
        args.image,
        config=config,
        dockerfile=args.dockerfile,
        platform=platform,
        name=args.name,
        validate_in_worker=True,  # safe: the repro command's main module is guarded
    )
    if args.output is None or str(args.output) == "-":
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
    else:
        from repro.fsutil import atomic_write

        atomic_write(args.output, document)
        print(f"repro sbom: wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def _sbom_packages(text: str, args: argparse.Namespace) -> bytes:
    """An SBOM file's bytes, or the SBOM of an image (oci:DIR[:TAG] or a reference)."""
    path = Path(text)
    if not text.startswith("oci:") and path.is_file():
        try:
            return path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{text}: cannot read: {exc.strerror}") from exc
    from repro.platform import Platform
    from repro.sbom.generate import sbom_for_reference

    platform = Platform.parse(args.platform) if args.platform else None
    config = None if text.startswith("oci:") else _load_config(args)
    return sbom_for_reference(text, config=config, platform=platform)


def _cmd_sbom_diff(args: argparse.Namespace) -> int:
    if len(args.more) != 2:
        raise UsageError("usage: repro sbom diff OLD NEW [--json] (SBOM files or images)")
    from repro.sbom.diff import diff_sboms

    old, new = (_sbom_packages(text, args) for text in args.more)
    diff = diff_sboms(old, new)
    if args.json:
        _print_json(diff.to_json())
    else:
        sys.stdout.write(diff.to_markdown())
    return EXIT_OK


def _add_sbom_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    sbom = commands.add_parser(
        "sbom",
        help="write a CycloneDX SBOM of an image; compare two SBOMs",
        description="Read IMAGE (oci:DIR[:TAG], or a registry reference, pulled and verified) layer by "
        "layer and write its CycloneDX 1.6 JSON SBOM: distro packages, language packages, and the "
        "executables no package owns, each with the layer that brought it. "
        "'repro sbom diff OLD NEW' lists packages added, removed, upgraded and downgraded between two "
        "SBOM files or images (Markdown, or JSON with --json).",
    )
    sbom.add_argument("image", metavar="IMAGE", help="oci:DIR[:TAG] or a registry reference; or 'diff'")
    sbom.add_argument("more", nargs="*", help=argparse.SUPPRESS)
    sbom.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the SBOM to FILE (default: stdout)"
    )
    sbom.add_argument(
        "--format", choices=("cyclonedx-json",), default="cyclonedx-json", help="output format (the only one)"
    )
    sbom.add_argument(
        "--dockerfile", type=Path, metavar="FILE", help="the Dockerfile it was built from: adds file:line"
    )
    sbom.add_argument("--name", help="the image's name in the SBOM (default: from IMAGE)")
    sbom.add_argument(
        "--platform", metavar="P", help="for an index: the platform to describe (default: host)"
    )
    sbom.add_argument("--json", action="store_true", help="with diff: print JSON instead of Markdown")
    sbom.set_defaults(handler=_cmd_sbom)


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


# --- repro keygen / verify-image -------------------------------------------------------


def _cmd_keygen(args: argparse.Namespace) -> int:
    from repro.attest.keys import keypair_paths, read_password, write_keypair

    private_path, public_path = keypair_paths(args.prefix)
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(f"{path} exists; refusing to overwrite it")
    pair = write_keypair(args.prefix, read_password(confirm=True))
    if args.json:
        _print_json(pair.to_json())
    else:
        print(pair.public_key)
    print(
        f"repro keygen: wrote {pair.private_key} (encrypted) and {pair.public_key}; key hint {pair.hint}",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_verify_image(args: argparse.Namespace) -> int:
    from repro.attest.statements import predicate_types
    from repro.attest.verify import (
        IdentityTrust,
        KeyTrust,
        TrustPolicy,
        load_trusted_root,
        open_source,
        verify_source,
    )

    identity_given = args.certificate_identity is not None or args.certificate_identity_regexp is not None
    trust: TrustPolicy
    if args.key is not None:
        if identity_given or args.certificate_oidc_issuer or args.trusted_root:
            raise UsageError("--key excludes the keyless options (--certificate-*, --trusted-root)")
        from repro.attest.keys import load_public_key

        trust = KeyTrust(load_public_key(args.key))
    elif identity_given:
        if not args.certificate_oidc_issuer:
            raise UsageError("keyless verification needs --certificate-oidc-issuer too")
        trust = IdentityTrust(
            issuer=args.certificate_oidc_issuer,
            trusted_root=load_trusted_root(args.trusted_root),
            identity=args.certificate_identity,
            identity_regexp=args.certificate_identity_regexp,
        )
    else:
        raise UsageError(
            "say whom to trust: --key PUB, or --certificate-identity[-regexp] and --certificate-oidc-issuer"
        )
    require = predicate_types(name for item in args.require or () for name in item.split(","))
    if args.ref.startswith("oci:"):
        result = verify_source(open_source(args.ref), trust, require=require)
    else:
        from repro.registry import RegistryClient

        with RegistryClient(_load_config(args)) as client:
            result = verify_source(open_source(args.ref, client), trust, require=require)
    if args.json:
        _print_json(result.to_json())
    else:
        for attestation in result.verified:
            print(f"{attestation.predicate_type}\t{attestation.referrer}\t{attestation.signer}")
    print(
        f"repro verify-image: {result.image}: {len(result.verified)} attestation(s) verified "
        f"({result.trust}), {len(result.rejected)} rejected",
        file=sys.stderr,
    )
    return EXIT_OK


def _add_attest_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    keygen = commands.add_parser(
        "keygen",
        help="create a key pair for signing with --sign key",
        description="Create an ECDSA P-256 key pair: PREFIX.key (PKCS#8, encrypted with a passphrase "
        "from REPRO_KEY_PASSWORD or asked twice on the terminal; mode 0600) and PREFIX.pub. Refuses to "
        "overwrite either file. Prints the public key's path.",
    )
    keygen.add_argument(
        "prefix", nargs="?", default="repro", metavar="PREFIX", help="file name prefix (default: repro)"
    )
    keygen.add_argument("--json", action="store_true", help="print the paths and the key hint as JSON")
    keygen.set_defaults(handler=_cmd_keygen)

    verify_image = commands.add_parser(
        "verify-image",
        help="verify an image's signed attestations",
        description="Find the Sigstore bundles attached to REF as OCI referrers (registry reference, or "
        "oci:DIR[:TAG]) and verify each: the signature (with --key, or keyless against the trusted root "
        "with the certificate identity and OIDC issuer), that it is an in-toto statement, and that its "
        "subject is REF's digest. Exits 0 when every --require'd attestation (without --require: at "
        "least one) verified; 21-25 say why not (see the README).",
    )
    verify_image.add_argument("ref", metavar="REF", help="image reference, or oci:DIR[:TAG]")
    verify_image.add_argument(
        "--key", type=Path, metavar="PUB", help="trust bundles signed with this public key"
    )
    verify_image.add_argument(
        "--certificate-identity", metavar="ID", help="keyless: the signer's identity (e-mail or URI), exactly"
    )
    verify_image.add_argument(
        "--certificate-identity-regexp",
        metavar="RE",
        help="keyless: the signer's identity, as a full-match regexp",
    )
    verify_image.add_argument(
        "--certificate-oidc-issuer",
        metavar="URL",
        help="keyless: the OIDC issuer that vouched for the identity",
    )
    verify_image.add_argument(
        "--require",
        action="append",
        metavar="A[,A…]",
        help="attestations that must verify: provenance, sbom, reproducible",
    )
    verify_image.add_argument(
        "--trusted-root",
        type=Path,
        metavar="FILE",
        help="keyless: a Sigstore trusted_root.json (default: Sigstore's public instance, via TUF)",
    )
    verify_image.add_argument("--json", action="store_true", help="print JSON on stdout")
    verify_image.set_defaults(handler=_cmd_verify_image)


# --- repro policy check / test -------------------------------------------------------


def _cmd_policy_check(args: argparse.Namespace) -> int:
    from repro.policy import check_documents, check_paths, load_policies, render

    fmt = _output_format(args, "human")
    paths = args.paths or ["."]
    config = _load_config(args, Path(args.input if args.input and not args.paths else paths[0]))
    policies = load_policies(config.policy, args.policy or ())
    source = str(config.source) if config.source else None
    if args.input is not None:
        if args.paths:
            raise UsageError("--input and PATH are exclusive: the document already describes what to check")
        try:
            document = json.loads(Path(args.input).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--input {args.input}: not a readable JSON document: {exc}") from exc
        if not isinstance(document, dict):
            raise UsageError(f"--input {args.input}: the input document must be a JSON object")
        stage = args.stage or document.get("stage") or "release"
        if stage not in ("lint", "release"):
            raise UsageError(f"--input {args.input}: stage must be lint or release, not {stage!r}")
        document["stage"] = stage
        report = check_documents(
            {str(args.input): document},
            config=config.policy,
            policies=policies,
            stage="lint" if stage == "lint" else "release",
            config_file=source,
        )
    else:
        report = check_paths(
            paths,
            config=config.policy,
            policies=policies,
            stage=args.stage or "lint",
            build_args=_build_args(args),
            config_file=source,
        )
    sys.stdout.write(render(report, fmt))
    print(f"repro policy check: {report.summary()}", file=sys.stderr)
    return report.exit_code


def _cmd_policy_test(args: argparse.Namespace) -> int:
    from repro.policy import PolicySet, default_policy_dir
    from repro.policy.engine import discover_modules

    directories = [Path(d) for d in args.dirs] or [default_policy_dir()]
    modules = discover_modules(directories, include_defaults=False, tests=True)
    wanted = {m.path.resolve() for m in modules}
    default = default_policy_dir().resolve()
    # The defaults are always loaded, so user policies and tests can use data.repro.lib.
    extra = [m for m in discover_modules([], tests=False) if m.path.resolve() not in wanted]
    policies = PolicySet(
        [*extra, *modules], data={"config": {"allowed_registries": [], "size_budget_mb": None}}
    )
    results = policies.run_tests([m for m in modules if m.is_test])
    failed = [r for r in results if not r.passed]
    for result in results:
        status = "PASS" if result.passed else ("ERROR" if result.error else "FAIL")
        print(
            f"{result.module}: data.{result.package}.{result.name}: {status} ({result.seconds * 1000:.1f} ms)"
        )
        if result.error or result.detail:
            print(f"  {result.error or result.detail}")
    if not results:
        where = ", ".join(str(d) for d in directories) if args.dirs else str(default)
        raise UsageError(f"no test_* rules in *_test.rego files under {where}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed", file=sys.stderr)
    return EXIT_OK if not failed else 1


def _add_policy_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    policy = commands.add_parser(
        "policy",
        help="check Dockerfiles and images against Rego policies",
        description="The policy gate: Rego v1 policies over one JSON input document per Dockerfile "
        "(and, at release, per image).",
    )
    actions = policy.add_subparsers(dest="policy_command", metavar="COMMAND", parser_class=_Parser)
    check = actions.add_parser(
        "check",
        help="evaluate the policies",
        description="Evaluate the default policies, and those of --policy and policy_dirs, against the "
        "Dockerfiles under PATH (or the input document of --input). Exits 1 when an error-severity "
        "finding is not excepted; warnings and notes never fail.",
    )
    check.add_argument(
        "paths", nargs="*", metavar="PATH", help="Dockerfiles, or directories to search for them (default: .)"
    )
    check.add_argument(
        "--stage",
        choices=("lint", "release"),
        help="lint: the Dockerfile alone (default); release: every rule, missing release facts fail",
    )
    check.add_argument(
        "--policy", action="append", type=Path, metavar="DIR", help="also load the .rego files under DIR"
    )
    check.add_argument(
        "--format", choices=("human", "json", "sarif", "github"), help="output format (default: human)"
    )
    check.add_argument("--json", action="store_true", help="print JSON on stdout (same as --format json)")
    check.add_argument("--input", type=Path, metavar="FILE", help="evaluate this JSON input document instead")
    check.add_argument(
        "--build-arg", action="append", metavar="NAME=VALUE", help="value of a global ARG, as for the build"
    )
    check.set_defaults(handler=_cmd_policy_check)
    test = actions.add_parser(
        "test",
        help="run the policies' tests",
        description="Run every test_* rule of the *_test.rego files under DIR (default: the default "
        "policies), as 'opa test' does: a test passes when it is true, or, when it is a case "
        '{"input": DOC, "expect": [IDS], "expect_not": [IDS]}, when the findings of the package under '
        "test match. The default policies are loaded too. Exits 1 when a test fails.",
    )
    test.add_argument("dirs", nargs="*", metavar="DIR", help="directories (or files) with policies and tests")
    test.set_defaults(handler=_cmd_policy_test)

    def no_subcommand(args: argparse.Namespace) -> int:
        policy.print_help(sys.stderr)
        raise UsageError("repro policy: give a command: check or test")

    policy.set_defaults(handler=no_subcommand)


# --- repro release --------------------------------------------------------------------


def _cmd_release(args: argparse.Namespace) -> int:
    from repro.errors import ReleaseError
    from repro.release import ConsoleProgress, ReleaseOptions, ReleaseReport, release

    context = Path(args.context)
    options = ReleaseOptions(
        context=context,
        image=args.image,
        dockerfile=args.file,
        target=args.target,
        platform=args.platform,
        build_args=_build_args(args),
        scrub=_scrub_arg(args),
        sign=args.sign,
        key=args.key,
        identity_token=args.identity_token,
        staging=args.staging,
        policy_dirs=tuple(args.policy or ()),
        push=args.push,
        previous_sbom=args.previous_sbom,
    )
    config = _load_config(args, options.dockerfile_path)
    try:
        report = release(options, config=config, progress=ConsoleProgress(verbose=args.verbose))
    except ReleaseError as err:
        if isinstance(err.report, ReleaseReport):
            _release_outputs(err.report, args, None)
        raise
    _release_outputs(report, args, options)
    print(f"repro release: {report.pinned} in {report.seconds:.1f} s", file=sys.stderr)
    return EXIT_OK


def _release_outputs(
    report: ReleaseReport, args: argparse.Namespace, succeeded: ReleaseOptions | None
) -> None:
    """stdout (Markdown, or JSON), $GITHUB_STEP_SUMMARY, the report file, and the notes."""
    from repro.release import append_step_summary, write_json_report
    from repro.release.pipeline import destination_for, image_name

    if args.json:
        _print_json(report.to_json())
    else:
        sys.stdout.write(report.to_markdown())
    sys.stdout.flush()
    append_step_summary(report)
    path = args.report
    if path is None and succeeded is not None:  # dist/release.json only beside a release
        path = destination_for(succeeded.push, image_name(succeeded.image), succeeded.workdir).report_path
    if path is not None:
        write_json_report(report, path)
        print(f"repro release: wrote {path}", file=sys.stderr)
    for note in report.notes:
        print(f"repro release: note: {note}", file=sys.stderr)


def _add_release_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    from repro.oci.scrub import profile_names

    rel = commands.add_parser(
        "release",
        help="pin check, build twice, SBOM, policy, sign, push, verify: fail-closed",
        description="Release CONTEXT as --image: check that every image is pinned, build twice and "
        "require one digest, write the SBOM, run the release policies, sign SLSA provenance, the SBOM "
        "and the reproducibility attestation, push the image with its referrers by digest, verify it "
        "from there as a consumer would, and only then write the tag. The first stage that fails stops "
        "the release: nothing is signed or pushed after it, and the exit code names the stage (30-36, "
        "see the README). Without --push the release goes to the OCI layout ./dist, signed with a local "
        "key made on first use in ./.repro. Prints a Markdown summary (or JSON with --json) and appends "
        "it to $GITHUB_STEP_SUMMARY when that is set.",
    )
    rel.add_argument("context", metavar="CONTEXT", help="the build context directory")
    rel.add_argument(
        "--image", required=True, metavar="NAME:TAG", help="the image's name and tag (subjects, SBOM, tag)"
    )
    rel.add_argument(
        "-f", "--file", type=Path, metavar="FILE", help="the Dockerfile (default: CONTEXT/Dockerfile)"
    )
    rel.add_argument("--target", metavar="STAGE", help="build this stage (default: the last)")
    rel.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="the platform to build for")
    rel.add_argument(
        "--build-arg", action="append", metavar="NAME=VALUE", help="a build argument (repeatable)"
    )
    rel.add_argument(
        "--scrub",
        action="append",
        metavar="P[,P…]",
        help=f"remove the volatile files of these profiles: {', '.join(profile_names())}",
    )
    rel.add_argument(
        "--sign",
        choices=("key", "keyless"),
        default="key",
        help="sign with a key (default; --key, else ./.repro/release.key) or keyless with Sigstore",
    )
    rel.add_argument(
        "--key", type=Path, metavar="PATH", help="the private key (repro keygen); PATH.pub verifies"
    )
    rel.add_argument(
        "--identity-token",
        metavar="TOKEN",
        help="keyless: the OIDC token (default: SIGSTORE_ID_TOKEN, ambient)",
    )
    rel.add_argument("--staging", action="store_true", help="keyless: use Sigstore's staging instance")
    rel.add_argument(
        "--policy", action="append", type=Path, metavar="DIR", help="also load the .rego files under DIR"
    )
    rel.add_argument(
        "--push",
        metavar="REF|oci:DIR[:TAG]",
        help="where to publish: REGISTRY/NAME[:TAG] or an OCI layout (default: oci:dist)",
    )
    rel.add_argument(
        "--previous-sbom",
        metavar="FILE|REF",
        help="the previous release's SBOM (file, oci:DIR[:TAG] or image): report package changes",
    )
    rel.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    rel.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="also write the JSON report to FILE (default without --push: dist/release.json)",
    )
    rel.set_defaults(handler=_cmd_release)


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
    _add_build_commands(commands)
    _add_sbom_commands(commands)
    _add_push_command(commands)
    _add_attest_commands(commands)
    _add_policy_commands(commands)
    _add_release_command(commands)
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
