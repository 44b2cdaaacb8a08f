"""``repro policy check`` and ``policy test``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from repro.cli._commands import command_help
from repro.cli._common import _build_args, _load_config, _output_format, _Parser
from repro.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    pass


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
            allow_empty=args.allow_empty,
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
        help=command_help("policy"),
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
    check.add_argument(
        "--allow-empty", action="store_true", help="pass when no Dockerfile is found under PATH"
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
