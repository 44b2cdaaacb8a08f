"""``repro build``, ``verify`` and ``diff``: build through an engine, prove two builds agree, explain differences."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from repro.cli._commands import command_help
from repro.cli._common import (
    _add_progress_option,
    _build_args,
    _dockerfile_arg,
    _load_config,
    _Parser,
    _print_json,
    _report,
    _secrets,
    _warn_secret_build_args,
)
from repro.cli._engine import add_engine_options, engine_names_arg, with_engine_settings
from repro.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from repro.build import BuildEvent, BuildResult, BuildSpec
    from repro.images.location import ArchiveLocation
    from repro.registry import RegistryClient
    from repro.reproduce.diff import LayoutImage
    from repro.reproduce.verify import VerifyResult
    from repro.terminal import LiveSteps


# --- repro build / verify / diff -----------------------------------------------------


class _Progress:
    """Build progress on stderr (``--progress``, see :mod:`repro.terminal`).

    ``plain``: each instruction and repro's own phases as a line with the time since the
    start, and with -v every line the engine prints. ``tty``: the running step of each
    build with a timer and its last output lines, redrawn in place; each finished step
    stays as a line with its duration. Use as a context manager (the view stops at exit).
    """

    def __init__(
        self,
        verbose: int,
        out: TextIO | None = None,
        *,
        mode: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        from repro.terminal import progress_mode

        self.verbose = verbose
        self.out = out or sys.stderr
        self.mode = progress_mode(mode, self.out, environ)
        self._steps: LiveSteps | None = None
        if self.mode == "tty":
            from repro.terminal import LiveSteps, make_console

            self._steps = LiveSteps(make_console(self.out, mode="tty", environ=environ))

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._steps is not None:
            self._steps.close()

    def __call__(self, event: BuildEvent) -> None:
        from repro.redact import redact_text

        event = dataclasses.replace(
            event, text=redact_text(event.text), instruction=redact_text(event.instruction)
        )
        who = f"[{event.build}] " if event.build else ""
        if event.kind == "step":
            stage = f"stage {event.stage}/{event.stages} " if event.stages > 1 else ""
            line = f"{stage}step {event.step}/{event.steps}: {event.instruction}"
        else:
            line = event.text
        if self._steps is not None:
            if event.kind == "output":
                self._steps.output(event.build, event.text)
                if self.verbose:
                    self._steps.line(f"{who}| {event.text}", style="dim")
            else:
                self._steps.start(event.build, f"{who}{line}")
            return
        if event.kind == "output":
            if self.verbose:
                print(f"{who}| {event.text}", file=self.out, flush=True)
            return
        print(f"repro: {who}{line}  (+{event.elapsed:.1f} s)", file=self.out, flush=True)


def _scrub_arg(args: argparse.Namespace) -> tuple[str, ...]:
    names: list[str] = []
    for item in args.scrub or ():
        names += [name.strip() for name in item.split(",") if name.strip()]
    return tuple(dict.fromkeys(names))


def _pairs(values: list[str] | None, flag: str, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item}: expected {what}")
        pairs[key] = value
    return pairs


#: BuildKit's ``--build-context`` sources other than a directory: ``docker-image://REF``,
#: ``oci-layout://DIR``, ``https://…`` (git or a tarball), ``git@…``.
_CONTEXT_SOURCE = re.compile(r"[a-z][a-z0-9+.-]*://|git@")


def _build_contexts(args: argparse.Namespace) -> dict[str, Path]:
    """``--build-context NAME=DIR``; the image, layout and URL sources of BuildKit are refused
    here, before anything is built, rather than read as a directory that does not exist."""
    contexts: dict[str, Path] = {}
    for name, value in _pairs(args.build_context, "--build-context", "NAME=DIR").items():
        if _CONTEXT_SOURCE.match(value):
            raise UsageError(
                f"--build-context {name}={value}: repro takes a directory here (NAME=DIR), "
                "not an image, a layout or a URL",
                hint=f"for an image, name it pinned where the Dockerfile uses {name} "
                f"(FROM IMAGE@sha256:…, COPY --from=IMAGE@sha256:…); for a layout or a URL, "
                "unpack or check it out into a directory and give NAME=DIR",
            )
        contexts[name] = Path(value)
    return contexts


def _tags(args: argparse.Namespace) -> tuple[str, ...]:
    """The tags of ``-t NAME[:TAG]`` (an OCI layout holds tags; the names are checked)."""
    from repro.reference import parse_reference

    tags: dict[str, tuple[str, str]] = {}  # tag -> (repository, the -t that gave it)
    for text in args.tag or ():
        ref = parse_reference(text)
        if ref.digest is not None:
            raise UsageError(f"-t {text}: name a tag, not a digest")
        tag = ref.tag or "latest"
        if tag in tags and tags[tag][0] != ref.name:
            raise UsageError(
                f"-t {text}: the layout already gets tag {tag} from -t {tags[tag][1]}",
                hint="an OCI layout holds one image per tag: give each -t its own tag",
            )
        tags.setdefault(tag, (ref.name, text))
    return tuple(tags)


@dataclasses.dataclass(frozen=True)
class _Output:
    """Where ``-o`` puts the image: a layout directory and tag, and the archive made from it."""

    directory: Path | None = None
    tag: str | None = None
    archive: ArchiveLocation | None = None


@contextlib.contextmanager
def _output(args: argparse.Namespace, *, required: bool) -> Iterator[_Output]:
    """``-o``: a layout as given, or for an archive a temporary layout the image is built into."""
    from repro.images.location import ArchiveLocation, LayoutLocation, is_local, parse_location

    if args.output is None:
        if required:
            raise UsageError(
                "repro build needs an output: -o oci:DIR[:TAG], oci-archive:FILE[:TAG] "
                "or docker-archive:FILE[:NAME:TAG]"
            )
        yield _Output()
        return
    if not is_local(args.output):
        raise UsageError(
            f"-o {args.output}: write the image to oci:DIR[:TAG], oci-archive:FILE[:TAG] "
            "or docker-archive:FILE[:NAME:TAG]",
            hint=f"for a directory write oci:{args.output}; push to a registry afterwards with repro push",
        )
    location = parse_location(args.output, what="-o")
    if isinstance(location, LayoutLocation):
        yield _Output(location.directory, location.tag)
        return
    assert isinstance(location, ArchiveLocation)  # noqa: S101 (local and not a layout)
    from repro.images.archive import archive_output, archive_tag

    with archive_output(location) as directory:
        yield _Output(directory, archive_tag(location), location)


def _write_archive(output: _Output, args: argparse.Namespace, tag: str) -> None:
    """Pack the image built into ``output``'s temporary layout into its archive."""
    if output.archive is None or output.directory is None:
        return
    from repro.images.archive import write_archive

    write_archive(output.directory, output.archive, tag=tag, names=tuple(args.tag or ()))
    print(f"repro: wrote {output.archive.display}", file=sys.stderr)


def _build_spec(args: argparse.Namespace, output: _Output) -> BuildSpec:
    from repro.build import BuildSpec

    tags = _tags(args)
    if tags and output.directory is None:
        raise UsageError("-t tags the image in the -o layout: give -o oci:DIR too")
    primary = output.tag or (tags[0] if tags else "latest")
    return BuildSpec(
        context=Path(args.context),
        output=output.directory,
        tag=primary,
        extra_tags=tuple(t for t in tags if t != primary),
        dockerfile=_dockerfile_arg(args),
        target=args.target,
        build_args=_build_args(args),
        platform=args.platform,
        scrub=_scrub_arg(args),
        allow_unpinned=args.allow_unpinned,
        ca_bundle=args.ca_bundle,
        secrets=_secrets(args),
        labels=_pairs(args.label, "--label", "KEY=VALUE"),
        annotations=_pairs(args.annotation, "--annotation", "KEY=VALUE"),
        build_contexts=_build_contexts(args),
        engines=engine_names_arg(args),
        no_cache=args.no_cache,
    )


def _cmd_build(args: argparse.Namespace) -> int:
    if args.verify:
        return _cmd_verify(args)
    from repro.build import build

    with _output(args, required=True) as output:
        spec = _build_spec(args, output)
        _warn_secret_build_args(dict(spec.build_args))
        with _Progress(args.verbose, mode=args.progress) as progress:
            config = with_engine_settings(args, _load_config(args, spec.dockerfile_path, spec.context))
            result = build(spec, config=config, progress=progress)
        _write_archive(output, args, spec.tag)
    reference = output.archive.display if output.archive is not None else result.reference
    if args.json:
        data = result.to_json()
        if output.archive is not None:
            data.update(layout=None, archive=str(output.archive.file), reference=reference)
        _print_json(data)
    else:
        print(result.digest)
    epoch = f"SOURCE_DATE_EPOCH={result.source_date_epoch} ({result.epoch_source})"
    _print_scrubbed(result)
    for platform in result.platforms:
        print(f"repro build: {platform.platform} {platform.digest}", file=sys.stderr)
    what = f" (an index of {len(result.platforms)} platforms)" if result.platforms else ""
    print(
        f"repro build: {reference} {result.digest}{what} in {result.duration:.1f} s; {epoch}",
        file=sys.stderr,
    )
    return EXIT_OK


def _print_scrubbed(result: BuildResult) -> None:
    """What --scrub removed, per profile (and platform), and why (stderr: talk, not data)."""
    from repro.layers.scrub import describe_scrubbed

    for build in result.platforms or (result,):
        where = f"{build.platform}: " if result.platforms else ""
        entries = build.normalizer.get("scrubbed", [])
        for line in describe_scrubbed((e["layer"], e["path"], e["profile"]) for e in entries):
            print(f"repro: scrubbed {where}{line}", file=sys.stderr)


def _cmd_verify(args: argparse.Namespace) -> int:
    from repro.errors import EXIT_NOT_REPRODUCIBLE, NotReproducibleError
    from repro.reproduce.verify import verify

    concurrent = False if args.sequential else None
    with _output(args, required=args.command == "build") as output:
        spec = _build_spec(args, output)
        with _Progress(args.verbose, mode=args.progress) as progress:
            result = verify(
                spec,
                config=with_engine_settings(args, _load_config(args, spec.dockerfile_path, spec.context)),
                progress=progress,
                concurrent=concurrent,
            )
        if result.output is not None:
            _write_archive(output, args, spec.tag)
    if args.json:
        data = result.to_json()
        if output.archive is not None:
            data.update(output=output.archive.display if result.output is not None else None)
        _print_json(data)
    elif result.platforms:
        _print_platforms(result)
    elif result.reproducible:
        print(f"reproducible {result.digest}")
    elif result.diff is not None:
        from repro.reproduce.diff import render_text

        sys.stdout.write(render_text(result.diff))
    else:
        print(f"not reproducible {result.builds[0].digest} {result.builds[1].digest}")
    _print_scrubbed(result.builds[0])
    mode = "concurrently" if result.concurrent else "one after the other"
    engines = " and ".join(dict.fromkeys(str(b.engine) for b in result.builds))
    each = f" of each of {len(result.platforms)} platforms" if result.platforms else ""
    print(f"repro verify: two builds{each} with {engines} {mode} in {result.duration:.1f} s", file=sys.stderr)
    if result.reproducible:
        return EXIT_OK
    if result.platforms:
        differing = result.differing_platforms
        message = (
            f"not reproducible on {', '.join(differing)}: two builds of each gave different images"
            if differing
            else f"not reproducible: the two indexes differ ({result.builds[0].digest}, {result.builds[1].digest})"
        )
    else:
        message = f"not reproducible: two builds gave {result.builds[0].digest} and {result.builds[1].digest}"
    _report(
        NotReproducibleError(
            message, hint="see the report on stdout; --scrub removes known volatile files (see the README)"
        ),
        0,
    )
    return EXIT_NOT_REPRODUCIBLE


def _print_platforms(result: VerifyResult) -> None:
    """The text report of a multi-platform verify: a line per platform, then the diff report
    of each platform whose builds differ, headed by the platform, then the index."""
    from repro.reproduce.diff import render_text

    for one in result.platforms:
        if one.reproducible:
            print(f"{one.platform}: reproducible {one.digest}")
        else:
            print(f"{one.platform}: not reproducible {one.builds[0].digest} {one.builds[1].digest}")
    for one in result.platforms:
        if one.diff is not None:
            print(f"\n== {one.platform}: what differs ==")
            sys.stdout.write(render_text(one.diff))
    if result.reproducible:
        print(f"reproducible {result.digest}")
    else:
        print(f"not reproducible {result.builds[0].digest} {result.builds[1].digest}")


def _open_for_diff(
    text: str, client_box: list[RegistryClient], args: argparse.Namespace, workdir: Path
) -> LayoutImage:
    from repro.images.location import RegistryLocation, parse_location
    from repro.reproduce.diff import open_image

    location = parse_location(text, what="IMAGE")
    if not isinstance(location, RegistryLocation):
        return open_image(text, workdir=workdir)
    import dataclasses

    from repro.images.pull import pull_image
    from repro.images.store import RegistryStore
    from repro.platform import Platform
    from repro.registry import RegistryClient

    if not client_box:
        client_box.append(RegistryClient(_load_config(args)))
    destination = workdir / f"image-{len(list(workdir.iterdir()))}"
    platform = Platform.parse(args.platform) if args.platform else None
    pull_image(RegistryStore(client_box[0], location.ref), destination, tag="image", platform=platform)
    return dataclasses.replace(open_image(f"oci:{destination}:image"), name=location.ref.text)


def _cmd_diff(args: argparse.Namespace) -> int:
    import tempfile

    from repro.errors import EXIT_NOT_REPRODUCIBLE
    from repro.reproduce.diff import diff_images, render_text

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
    from repro.layers.scrub import profile_names

    command.add_argument("context", metavar="CONTEXT", help="the build context directory")
    command.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        help="the Dockerfile; - reads it from stdin (default: CONTEXT/Dockerfile, else CONTEXT/Containerfile)",
    )
    command.add_argument(
        "-t",
        "--tag",
        action="append",
        metavar="NAME[:TAG]",
        help="also tag the image TAG in the -o layout (repeatable)",
    )
    command.add_argument("--target", metavar="STAGE", help="build this stage (default: the last)")
    command.add_argument(
        "--build-arg", action="append", metavar="NAME=VALUE", help="a build argument (repeatable)"
    )
    command.add_argument(
        "--platform",
        metavar="P[,P…]",
        help="the platform(s) to build for, OS/ARCH[/VARIANT]; several give an image index",
    )
    command.add_argument(
        "--secret",
        action="append",
        metavar="id=ID,src=FILE|env=VAR",
        help="a secret for RUN --mount=type=secret,id=ID; in no layer (repeatable)",
    )
    command.add_argument(
        "--label", action="append", metavar="KEY=VALUE", help="a label in the image config (repeatable)"
    )
    command.add_argument(
        "--annotation",
        action="append",
        metavar="KEY=VALUE",
        help="an annotation on the image manifest (repeatable)",
    )
    command.add_argument(
        "--build-context",
        action="append",
        metavar="NAME=DIR",
        help="another context directory, for COPY --from=NAME and RUN --mount=from=NAME (repeatable)",
    )
    command.add_argument(
        "--no-cache",
        action="store_true",
        help="use none of repro's caches: every layer built and normalised afresh (see 'Caches')",
    )
    command.add_argument(
        "-o",
        "--output",
        required=output_required,
        metavar="OUTPUT",
        help="write the image to an OCI layout, oci:DIR[:TAG], or an archive, oci-archive:FILE[:TAG] or "
        "docker-archive:FILE[:NAME:TAG] (docker load); TAG default: latest"
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
    command.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="FILE",
        help="CA certificates for TLS in RUN steps (pip, npm, curl): mounted, never in the image",
    )
    add_engine_options(command, pair=not output_required)
    command.add_argument("--json", action="store_true", help="print JSON on stdout")
    _add_progress_option(command)


def _add_build_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    build = commands.add_parser(
        "build",
        help=command_help("build"),
        description="Build CONTEXT with an engine (buildah in storage of repro's own, or BuildKit in a Docker "
        "Engine), with every time stamp set to "
        "SOURCE_DATE_EPOCH (from the environment, else the git HEAD commit time, else 0), then "
        "normalise the image and write it to the -o layout or archive. Refuses images not pinned to a digest. "
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
        help=command_help("verify"),
        description="Build CONTEXT twice, each from its own copy of the context with its own storage, "
        "time zone, locale and umask (with one engine, or once with each of two: --engines A,B), "
        "normalise both images and compare them. Prints "
        "'reproducible sha256:…' and exits 0, or prints what differs (the first differing layer, "
        "its Dockerfile line, each differing path, likely causes and fixes) and exits 6.",
    )
    _add_build_options(verify, output_required=False)
    verify.add_argument("--sequential", action="store_true", help="run the two builds one after the other")
    verify.set_defaults(handler=_cmd_verify)

    diff = commands.add_parser(
        "diff",
        help=command_help("diff"),
        description="Compare two images, each an OCI layout (oci:DIR[:TAG]), an image archive "
        "(oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]) or a registry reference, "
        "and report what differs as 'repro verify' does. Exits 0 when they are identical, 6 when "
        "they differ.",
    )
    diff.add_argument("a", metavar="A", help="oci:DIR[:TAG], an archive or an image reference")
    diff.add_argument("b", metavar="B", help="oci:DIR[:TAG], an archive or an image reference")
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
