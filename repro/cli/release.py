"""``repro release``: the whole fail-closed pipeline."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from repro.cli._commands import command_help
from repro.cli._common import (
    _add_progress_option,
    _build_args,
    _dockerfile_arg,
    _load_config,
    _Parser,
    _print_json,
    _scrub_arg,
    _secrets,
)
from repro.cli._engine import add_engine_options, engine_names_arg, with_engine_settings
from repro.errors import EXIT_OK

if TYPE_CHECKING:
    from repro.release import ReleaseOptions, ReleaseReport


# --- repro release --------------------------------------------------------------------


def _cmd_release(args: argparse.Namespace) -> int:
    from repro.build import BuildSpec
    from repro.errors import ReleaseError
    from repro.release import ConsoleProgress, ReleaseOptions, ReleaseReport, release

    build = BuildSpec(
        context=Path(args.context),
        dockerfile=_dockerfile_arg(args),
        target=args.target,
        platform=args.platform,
        build_args=_build_args(args),
        scrub=_scrub_arg(args),
        secrets=_secrets(args),
        engines=engine_names_arg(args),
        no_cache=args.no_cache,
    )
    options = ReleaseOptions(
        build,
        image=args.image,
        sign=args.sign,
        key=args.key,
        tlog=args.tlog,
        identity_token=args.identity_token,
        staging=args.staging,
        policy_dirs=tuple(args.policy or ()),
        push=args.push,
        previous_sbom=args.previous_sbom,
        allow_dirty=args.allow_dirty,
        dockerfile_name=_stdin_name(build.dockerfile) if args.file == "-" else None,
    )
    config = with_engine_settings(args, _load_config(args, options.dockerfile_path, options.build.context))
    if options.tlog is None and config.tlog is not None and options.sign == "key":
        options = dataclasses.replace(options, tlog=config.tlog)
    progress = ConsoleProgress(verbose=args.verbose, mode=args.progress)
    try:
        report = release(options, config=config, progress=progress)
    except ReleaseError as err:
        progress.close()
        if isinstance(err.report, ReleaseReport):
            _release_outputs(err.report, args, None)
        raise
    finally:
        progress.close()
    _release_outputs(report, args, options)
    print(f"repro release: {report.pinned} in {report.seconds:.1f} s", file=sys.stderr)
    return EXIT_OK


def _stdin_name(dockerfile: Path | None) -> str:
    """How the provenance names a Dockerfile read from stdin: ``-`` and its digest."""
    from repro.digest import Digest

    assert dockerfile is not None  # noqa: S101 (-f - always gives a file)
    return f"- (stdin, {Digest.of(dockerfile.read_bytes())})"


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
    from repro.layers.scrub import profile_names

    rel = commands.add_parser(
        "release",
        help=command_help("release"),
        description="Release CONTEXT as --image: refuse a git work tree that differs from its commit, "
        "check that every image is pinned, build twice and "
        "require one digest, write the SBOM, run the release policies, sign SLSA provenance, the SBOM "
        "and the reproducibility attestation, push the image with its referrers by digest, verify it "
        "from there as a consumer would, and only then write the tag. The first stage that fails stops "
        "the release: nothing is signed or pushed after it, and the exit code names the stage (30-37, "
        "see the README). With several --platform values each platform is built twice and verified, the "
        "images are combined into one OCI image index, and each platform image gets its own SBOM, "
        "policy check and signed attestations; the index gets its own provenance. Without --push the release goes to the OCI layout ./dist, signed with a local "
        "key made on first use in ./.repro. Prints a Markdown summary (or JSON with --json) and appends "
        "it to $GITHUB_STEP_SUMMARY when that is set.",
    )
    rel.add_argument("context", metavar="CONTEXT", help="the build context directory")
    rel.add_argument(
        "--image", required=True, metavar="NAME:TAG", help="the image's name and tag (subjects, SBOM, tag)"
    )
    rel.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        help="the Dockerfile; - reads it from stdin (default: CONTEXT/Dockerfile, else CONTEXT/Containerfile)",
    )
    rel.add_argument("--target", metavar="STAGE", help="build this stage (default: the last)")
    rel.add_argument(
        "--platform",
        metavar="P[,P…]",
        help="the platform(s) to build for (OS/ARCH[/VARIANT]); several: each built twice, one index",
    )
    rel.add_argument(
        "--build-arg", action="append", metavar="NAME=VALUE", help="a build argument (repeatable)"
    )
    rel.add_argument(
        "--secret",
        action="append",
        metavar="id=ID,src=FILE|env=VAR",
        help="a secret for RUN --mount=type=secret,id=ID; in no layer (repeatable)",
    )
    rel.add_argument(
        "--scrub",
        action="append",
        metavar="P[,P…]",
        help=f"remove the volatile files of these profiles: {', '.join(profile_names())}",
    )
    rel.add_argument(
        "--no-cache",
        action="store_true",
        help="use none of repro's caches: every layer built and normalised afresh (see 'Caches')",
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
        "--tlog",
        metavar="URL",
        help="key signing: log each signature in the Rekor transparency log at URL and put its "
        "entry in the bundle (default: the config key tlog; none)",
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
    rel.add_argument(
        "--allow-dirty",
        action="store_true",
        help="release a work tree that differs from its git commit (the provenance says dirty: true)",
    )
    add_engine_options(rel, pair=True)
    rel.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    _add_progress_option(rel)
    rel.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="also write the JSON report to FILE (default without --push: dist/release.json)",
    )
    rel.set_defaults(handler=_cmd_release)
