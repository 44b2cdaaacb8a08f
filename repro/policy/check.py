"""The policy gate as one call: build the input documents, evaluate, apply the configuration.

    >>> report = check_paths(["Dockerfile"])          # doctest: +SKIP
    >>> report.exit_code, report.summary()            # doctest: +SKIP
    (1, 'denied: 2 error(s), 3 warning(s), 0 note(s), 0 excepted in 1 document(s)')

:func:`check_paths` is ``repro policy check PATH...`` (the lint stage, or the release
stage with :class:`~repro.policy.input.ReleaseFacts`); :func:`check_documents` evaluates
input documents a caller already has (``--input FILE``); :func:`check_release` is what
``repro release`` calls with everything it learnt about the image.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from repro.config import PolicyConfig
from repro.errors import DockerfileError, NothingCheckedError
from repro.policy.engine import PolicySet
from repro.policy.findings import PolicyFinding, Report, judge, rules_with_builtin, sorted_findings
from repro.policy.input import ReleaseFacts, build_input

#: The most instructions a Dockerfile may have for ``policy check``: evaluation costs about
#: 2 ms per instruction, so this bounds one file to seconds (pin reads files of any
#: instruction count up to the 8 MiB size limit).
MAX_POLICY_INSTRUCTIONS = 5000

__all__ = [
    "MAX_POLICY_INSTRUCTIONS",
    "check_documents",
    "check_paths",
    "check_release",
    "load_policies",
    "policy_data",
]

Stage = Literal["lint", "release"]


def policy_data(config: PolicyConfig) -> dict[str, Any]:
    """The ``data`` document the policies read their settings from (``data.config``)."""
    return {
        "config": {
            "allowed_registries": list(config.allowed_registries),
            "size_budget_mb": config.size_budget_mb,
        }
    }


def load_policies(config: PolicyConfig, policy_dirs: Iterable[Path] = ()) -> PolicySet:
    """The default policies, the configured ``policy_dirs`` and ``policy_dirs`` given here."""
    return PolicySet.load([*config.policy_dirs, *policy_dirs], data=policy_data(config))


def _report(
    stage: str,
    raw: list[dict[str, Any]],
    documents: Sequence[str],
    policies: PolicySet,
    config: PolicyConfig,
    *,
    today: datetime.date | None,
    config_file: str | None,
) -> Report:
    findings: list[PolicyFinding] = judge(raw, config, today=today, config_file=config_file)
    return Report(
        stage=stage,
        findings=sorted_findings(findings),
        rules=rules_with_builtin(policies.rules()),
        documents=tuple(documents),
    )


def check_documents(
    documents: Mapping[str, Mapping[str, Any]],
    *,
    config: PolicyConfig | None = None,
    policy_dirs: Iterable[Path] = (),
    policies: PolicySet | None = None,
    stage: Stage = "lint",
    today: datetime.date | None = None,
    config_file: str | None = None,
) -> Report:
    """Evaluate input documents (name -> document) and judge the findings."""
    config = config or PolicyConfig()
    policies = policies or load_policies(config, policy_dirs)
    raw: list[dict[str, Any]] = []
    for document in documents.values():
        raw.extend(policies.evaluate(document))
    return _report(stage, raw, list(documents), policies, config, today=today, config_file=config_file)


def check_paths(
    paths: Iterable[Path | str],
    *,
    config: PolicyConfig | None = None,
    policy_dirs: Iterable[Path] = (),
    policies: PolicySet | None = None,
    stage: Stage = "lint",
    facts: ReleaseFacts | None = None,
    build_args: Mapping[str, str] | None = None,
    today: datetime.date | None = None,
    config_file: str | None = None,
    allow_empty: bool = False,
) -> Report:
    """Check the Dockerfiles under ``paths`` (files, or directories searched for them).

    Finding no Dockerfile raises :class:`~repro.errors.NothingCheckedError` (saying what
    the search passed over) unless ``allow_empty``: a gate that checked nothing fails.
    """
    from repro.dockerfile import build_stage_graph, parse, read_dockerfile
    from repro.pin.discovery import discover

    documents: dict[str, dict[str, Any]] = {}
    paths = list(paths)
    found = discover(paths)
    if not found.candidates and not allow_empty:
        skipped = "".join(f"\n  {path}: skipped: {why}" for path, why in found.passed_over)
        where = ", ".join(str(p) for p in paths) or "."
        raise NothingCheckedError(f"no Dockerfile found under {where}: nothing was checked{skipped}")
    for candidate in found.candidates:
        path = candidate.path
        name = str(path)
        df = parse(read_dockerfile(path, display=name), filename=name)
        if len(df.instructions) > MAX_POLICY_INSTRUCTIONS:
            raise DockerfileError(
                f"{name}: {len(df.instructions)} instructions; policy check reads at most "
                f"{MAX_POLICY_INSTRUCTIONS} (real Dockerfiles have a few hundred)",
                hint="split the Dockerfile; the policies' evaluation time grows with every instruction",
            )
        graph = build_stage_graph(df, build_args or {})
        documents[name] = build_input(df, graph, stage=stage, facts=facts)
    return check_documents(
        documents,
        config=config,
        policy_dirs=policy_dirs,
        policies=policies,
        stage=stage,
        today=today,
        config_file=config_file,
    )


def check_release(
    dockerfile: Path | None,
    facts: ReleaseFacts,
    *,
    config: PolicyConfig | None = None,
    policy_dirs: Iterable[Path] = (),
    build_args: Mapping[str, str] | None = None,
    today: datetime.date | None = None,
    config_file: str | None = None,
) -> Report:
    """The release gate: every rule, over the Dockerfile and everything known about the image."""
    if build_args and not facts.build_args:
        facts = dataclasses.replace(facts, build_args=dict(build_args))
    if dockerfile is not None:
        return check_paths(
            [dockerfile],
            config=config,
            policy_dirs=policy_dirs,
            stage="release",
            facts=facts,
            build_args=build_args,
            today=today,
            config_file=config_file,
        )
    document = build_input(None, stage="release", facts=facts)
    return check_documents(
        {facts.image_digest or "image": document},
        config=config,
        policy_dirs=policy_dirs,
        stage="release",
        today=today,
        config_file=config_file,
    )
