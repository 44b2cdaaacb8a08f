"""The input document the policies read: one JSON object per Dockerfile (and image).

:func:`lint_input` describes a Dockerfile alone (what ``repro policy check`` sees in a
source tree); :func:`build_input` adds what the release pipeline knows about the image it
built, passed in as :class:`ReleaseFacts`. Everything is plain JSON: a policy needs no
shell or Dockerfile parsing of its own, because RUN commands come split into simple
commands and ENV/ARG/LABEL into names and values.

    >>> doc = lint_input(b"FROM debian:bookworm\\nUSER app\\n", "Dockerfile")
    >>> doc["pins"][0]["pinned"], doc["dockerfile"]["final"]["user"]["name"]
    (False, 'app')

The README ("The input document") shows a complete example; its keys are the contract
with user policies, so they only ever grow.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from repro.build.capabilities import Capabilities
from repro.dockerfile import Dockerfile, Instruction, Stage, StageGraph, build_stage_graph, parse
from repro.errors import ReferenceFormatError
from repro.policy.scan import FileFinding, credential_kind
from repro.redact import redact_text, secret_reason
from repro.reference import parse_reference

__all__ = [
    "INPUT_VERSION",
    "LayerFacts",
    "PinFacts",
    "ReleaseFacts",
    "SignatureFacts",
    "build_input",
    "is_secret_name",
    "lint_input",
    "split_commands",
]

#: Bumped only when a key changes meaning; new keys do not bump it.
INPUT_VERSION: Final = 1

Stage_ = Literal["lint", "release"]

# Names that hold secrets: API_TOKEN, DB_PASSWORD, AWS_SECRET_ACCESS_KEY, GITHUB_PAT...
_SECRET_NAME_RE: Final = re.compile(
    r"(?:^|_)(?:PASSWORD|PASSWD|PASS|PWD|SECRET|TOKEN|APIKEY|API_KEY|ACCESS_KEY|PRIVATE_KEY|"
    r"SECRET_KEY|CLIENT_SECRET|CREDENTIALS?|AUTH|PAT|DSN)(?:$|_)",
    re.IGNORECASE,
)
# ...but not names that point at one: DB_PASSWORD_FILE, TOKEN_PATH, AUTH_URL.
_POINTER_SUFFIX_RE: Final = re.compile(r"_(?:FILE|PATH|DIR|URL|URI|ENDPOINT|HOST|PORT|TYPE|METHOD)$", re.I)
_SHELL_SEPARATORS: Final = frozenset({"&&", "||", ";", "|", "&", ";;", "(", ")", "|&"})
_SHELL_PREFIXES: Final = frozenset({"exec", "command", "nohup", "time", "then", "do", "else", "{", "!"})
_ASSIGNMENT_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def is_secret_name(name: str) -> bool:
    """Whether an environment or build-argument name looks like it holds a secret."""
    return bool(_SECRET_NAME_RE.search(name)) and not _POINTER_SUFFIX_RE.search(name)


# --- release facts ------------------------------------------------------------------------


@dataclass(frozen=True)
class PinFacts:
    """What a registry said about one pinned reference (release stage)."""

    current: bool | None = None  # the tag still points at the pinned digest
    multi_platform: bool | None = None  # the digest is an index


@dataclass(frozen=True)
class LayerFacts:
    """One layer of the built image."""

    digest: str
    size: int
    created_by: str | None = None
    location: str | None = None  # "Dockerfile:7" when known


@dataclass(frozen=True)
class SignatureFacts:
    """One signature made or checked for the release."""

    subject: str  # "image", "sbom", "provenance"
    verified: bool
    kind: str = "sigstore"  # "sigstore" (keyless) or "key"
    identity: str | None = None


@dataclass(frozen=True)
class ReleaseFacts:
    """Everything the release pipeline knows; each part is optional and absent parts stay null.

    ``image_config`` is the OCI image configuration JSON (``{"config": {...}, ...}``);
    ``sbom`` the CycloneDX JSON; ``file_findings`` what :func:`repro.policy.scan.scan_files`
    found in the final file system.
    """

    image_digest: str | None = None
    image_config: Mapping[str, Any] | None = None
    layers: Sequence[LayerFacts] = ()
    file_findings: Sequence[FileFinding] | None = None
    files_scanned: int = 0
    sbom: Mapping[str, Any] | None = None
    reproducible: bool | None = None
    digests: Sequence[str] = ()
    signatures: Sequence[SignatureFacts] | None = None
    pins: Mapping[str, PinFacts] = field(default_factory=dict)  # keyed by the reference's text
    source_date_epoch: int | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)  # --build-arg, as given
    engine: Capabilities | None = None  # the engine that built the image, and what it can build


# --- commands -----------------------------------------------------------------------------


def split_commands(script: str) -> list[list[str]]:
    """Split shell text into simple commands (argv lists, quotes removed).

    Separators are ``&&``, ``||``, ``;``, ``|``, ``&`` and new lines; leading variable
    assignments and ``exec``/``nohup``-style prefixes are dropped. Text the splitter cannot
    read (an unbalanced quote) falls back to splitting at white space.

        >>> split_commands("apt-get update && DEBIAN_FRONTEND=x apt-get install -y 'a b'")
        [['apt-get', 'update'], ['apt-get', 'install', '-y', 'a b']]
    """
    lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        words = list(lexer)
    except ValueError:
        words = script.replace("\n", " ; ").split()
    commands: list[list[str]] = []
    current: list[str] = []
    for word in words:
        if word in _SHELL_SEPARATORS or (word and set(word) <= set(";&|()")):
            if current:
                commands.append(current)
            current = []
            continue
        if not current and (word in _SHELL_PREFIXES or _ASSIGNMENT_RE.match(word)):
            continue
        current.append(word)
    if current:
        commands.append(current)
    return commands


# --- the Dockerfile part ------------------------------------------------------------------


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _name_values(ins: Instruction) -> list[tuple[str, str | None]]:
    """ENV/LABEL pairs, or ARG names with their default (None when there is none)."""
    texts = [a.text for a in ins.arguments]
    if ins.keyword == "ARG":
        pairs: list[tuple[str, str | None]] = []
        for text in texts:
            name, eq, value = text.partition("=")
            pairs.append((name, _unquote(value) if eq else None))
        return pairs
    if texts and "=" not in texts[0]:
        # The legacy form "ENV NAME value with spaces".
        return [(texts[0], _unquote(" ".join(texts[1:])))]
    result: list[tuple[str, str | None]] = []
    for text in texts:
        name, _, value = text.partition("=")
        result.append((_unquote(name), _unquote(value)))
    return result


def _vars(ins: Instruction) -> list[dict[str, Any]]:
    out = []
    for name, value in _name_values(ins):
        secret_name = ins.keyword != "LABEL" and is_secret_name(name)
        out.append(
            {
                "name": name,
                "value": value,
                "secret_name": secret_name,
                "secret_value": credential_kind(value) if value else None,
            }
        )
    return out


def _mounts(ins: Instruction) -> list[dict[str, str]]:
    mounts = []
    for value in ins.flag_values("mount"):
        fields: dict[str, str] = {"type": "bind"}
        for item in (value or "").split(","):
            key, eq, val = item.partition("=")
            fields[key.strip().lower()] = val if eq else "true"
        fields.setdefault("target", fields.get("dst", fields.get("destination", "")))
        mounts.append(fields)
    return mounts


def _command_argv(ins: Instruction) -> list[str]:
    """The argv of a CMD/ENTRYPOINT as the container starts it (shell form: its words)."""
    if ins.json_form:
        return [a.text for a in ins.arguments]
    commands = split_commands(" ".join(a.text for a in ins.arguments))
    return commands[0] if commands else []


def _instruction_doc(ins: Instruction, stage: int, filename: str, *, is_global: bool) -> dict[str, Any]:
    effective = ins.trigger or ins
    doc: dict[str, Any] = {
        # The keys conftest gives a Dockerfile's instructions, so that policies port.
        "Cmd": ins.keyword.lower(),
        "SubCmd": ins.trigger.keyword.lower() if ins.trigger else "",
        "Flags": [f.text for f in ins.flags],
        "Value": [a.text for a in ins.arguments],
        "Original": ins.original,
        "JSON": ins.json_form,
        "Stage": stage,
        "StartLine": ins.start_line,
        "EndLine": ins.end_line,
        # repro's additions, lower case.
        "file": filename,
        "line": ins.start_line,
        "location": f"{filename}:{ins.start_line}",
        "global": is_global,
        "flags": {f.name: f.value for f in ins.flags},
        "heredocs": [{"name": h.name, "content": h.text} for h in ins.heredocs],
    }
    keyword = effective.keyword
    if keyword == "RUN" and not ins.trigger:
        if ins.json_form:
            doc["commands"] = [[a.text for a in ins.arguments]]
        else:
            text = " ".join(a.text for a in ins.arguments)
            if ins.heredocs and text.lstrip().startswith("<<"):
                text = "\n".join(h.text for h in ins.heredocs)
            doc["commands"] = split_commands(text)
        doc["mounts"] = _mounts(ins)
    else:
        doc["commands"] = []
        doc["mounts"] = []
    if keyword in ("ENV", "ARG", "LABEL") and not ins.trigger:
        doc["vars"] = _vars(ins)
    else:
        doc["vars"] = []
    return doc


def _chain(graph: StageGraph) -> list[Stage]:
    """The final stage and the stages it builds on, final first."""
    chain = [graph.stages[-1]]
    while chain[-1].base_stage is not None and len(chain) <= len(graph.stages):
        chain.append(graph.stages[chain[-1].base_stage])
    return chain


def _final_doc(graph: StageGraph, filename: str) -> dict[str, Any]:
    """What the final image inherits from the Dockerfile, following FROM <stage> chains."""
    chain = _chain(graph)
    located: dict[str, dict[str, Any] | None] = {
        "user": None,
        "entrypoint": None,
        "cmd": None,
        "healthcheck": None,
    }
    expose: list[dict[str, Any]] = []
    labels: dict[str, dict[str, Any]] = {}
    for stage in reversed(chain):  # base first, so later stages override
        for ins in stage.instructions:
            where = {"file": filename, "line": ins.start_line, "location": f"{filename}:{ins.start_line}"}
            if ins.keyword == "USER" and ins.arguments:
                located["user"] = {"name": ins.arguments[0].text, **where}
            elif ins.keyword in ("ENTRYPOINT", "CMD"):
                key = ins.keyword.lower()
                located[key] = {
                    "form": "exec" if ins.json_form else "shell",
                    "argv": _command_argv(ins),
                    **where,
                }
                if key == "entrypoint":
                    # Docker resets an inherited CMD when ENTRYPOINT is set.
                    located["cmd"] = None
            elif ins.keyword == "EXPOSE":
                expose.extend({"port": a.text, **where} for a in ins.arguments)
            elif ins.keyword == "HEALTHCHECK":
                none = bool(ins.arguments) and ins.arguments[0].text.upper() == "NONE"
                located["healthcheck"] = {"none": none, **where}
            elif ins.keyword == "LABEL":
                for name, value in _name_values(ins):
                    labels[name] = {"value": value, **where}
    final = graph.stages[-1]
    return {
        "stage": final.index,
        "stages": sorted(stage.index for stage in chain),
        "line": final.from_instruction.start_line,
        **located,
        "expose": expose,
        "labels": labels,
    }


def _pin_doc(use: Any, filename: str, facts: Mapping[str, PinFacts]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": use.kind,
        "text": use.text,
        "image": use.expanded,
        "stage": use.stage,
        "file": filename,
        "line": use.line,
        "location": f"{filename}:{use.line}",
        "resolvable": use.expanded is not None,
        "invalid": False,
        "reason": use.skip_reason or None,
        "registry": None,
        "repository": None,
        "tag": None,
        "digest": None,
        "pinned": None,
        "current": None,
        "multi_platform": None,
    }
    if use.expanded is not None:
        try:
            ref = parse_reference(use.expanded)
        except ReferenceFormatError as err:
            doc.update(resolvable=False, invalid=True, reason=str(err))
        else:
            doc.update(
                registry=ref.domain,
                repository=ref.path,
                tag=ref.tag,
                digest=str(ref.digest) if ref.digest else None,
                pinned=ref.is_pinned,
            )
    known = facts.get(use.text) or (facts.get(use.expanded) if use.expanded else None)
    if known is not None:
        doc.update(current=known.current, multi_platform=known.multi_platform)
    return doc


def dockerfile_doc(df: Dockerfile, graph: StageGraph) -> dict[str, Any]:
    """The ``dockerfile`` part of the input document."""
    filename = df.filename
    instructions: list[dict[str, Any]] = []
    first_from = next((i for i, ins in enumerate(df.instructions) if ins.keyword == "FROM"), 0)
    for ins in df.instructions[:first_from]:
        instructions.append(_instruction_doc(ins, 0, filename, is_global=True))
    stages = []
    chain = {stage.index for stage in _chain(graph)}
    for stage in graph.stages:
        for ins in (stage.from_instruction, *stage.instructions):
            instructions.append(_instruction_doc(ins, stage.index, filename, is_global=False))
        line = stage.from_instruction.start_line
        stages.append(
            {
                "index": stage.index,
                "name": stage.name,
                "base": stage.base,
                "base_image": stage.base_expanded if stage.base_stage is None else None,
                "base_stage": stage.base_stage,
                "platform": stage.platform,
                "line": line,
                "location": f"{filename}:{line}",
                "final": stage.index == graph.stages[-1].index,
                "in_image": stage.index in chain,
            }
        )
    return {
        "file": filename,
        "stages": stages,
        "instructions": instructions,
        "args": [
            {
                "name": arg.name,
                "default": arg.default,
                "line": arg.line,
                "secret_name": is_secret_name(arg.name),
            }
            for arg in graph.global_args
        ],
        "final": _final_doc(graph, filename),
    }


def lint_input(data: bytes, filename: str, *, build_args: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The input document for a Dockerfile alone (the lint stage)."""
    df = parse(data, filename=filename)
    return build_input(df, build_stage_graph(df, build_args or {}), stage="lint")


# --- the image part -----------------------------------------------------------------------


def _form(argv: object) -> str | None:
    if not isinstance(argv, list) or not argv:
        return None
    return "shell" if argv[:2] == ["/bin/sh", "-c"] else "exec"


def _created_label(labels: Mapping[str, Any]) -> dict[str, Any] | None:
    value = labels.get("org.opencontainers.image.created")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return {"value": value, "epoch": None}
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return {"value": value, "epoch": int(parsed.timestamp())}


def _build_arg_docs(build_args: Mapping[str, str], image_config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each build argument: whether it looks secret, and whether its value is recorded in
    the image configuration (buildah writes ``|N NAME=value …`` into the history of every
    RUN that sees it). Never the value itself."""
    recorded = json.dumps(image_config, sort_keys=True)
    docs = []
    for name, value in sorted(build_args.items()):
        escaped = json.dumps(value)[1:-1]
        docs.append(
            {
                "name": name,
                "secret": secret_reason(name, value),
                "in_config": bool(value) and (value in recorded or escaped in recorded),
            }
        )
    return docs


def image_doc(facts: ReleaseFacts) -> dict[str, Any] | None:
    """The ``image`` part: configuration (env values of secret-looking names left out), size, layers."""
    if facts.image_config is None and not facts.layers:
        return None
    raw = facts.image_config or {}
    config = raw.get("config") or {}
    labels = dict(config.get("Labels") or {})
    env = []
    for item in config.get("Env") or []:
        name, _, value = str(item).partition("=")
        secret = is_secret_name(name) or credential_kind(value) is not None
        env.append({"name": name, "value": None if secret else value, "redacted": secret})
    health = config.get("Healthcheck")
    return {
        "digest": facts.image_digest,
        "size": sum(layer.size for layer in facts.layers),
        "layer_count": len(facts.layers),
        "layers": [
            {
                "digest": la.digest,
                "size": la.size,
                "created_by": redact_text(la.created_by) if la.created_by is not None else None,
                "location": la.location,
            }
            for la in facts.layers
        ],
        "build_args": _build_arg_docs(facts.build_args, raw),
        "created": raw.get("created"),
        "created_label": _created_label(labels),
        "config": {
            "user": config.get("User") or "",
            "entrypoint": config.get("Entrypoint"),
            "entrypoint_form": _form(config.get("Entrypoint")),
            "cmd": config.get("Cmd"),
            "cmd_form": _form(config.get("Cmd")),
            "exposed_ports": sorted(config.get("ExposedPorts") or {}),
            "healthcheck": {"test": health.get("Test")} if isinstance(health, dict) else None,
            "volumes": sorted(config.get("Volumes") or {}),
            "labels": labels,
            "env": env,
            "workdir": config.get("WorkingDir") or None,
            "stop_signal": config.get("StopSignal"),
        },
    }


def sbom_doc(sbom: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``sbom`` part, summarised from a CycloneDX JSON document."""
    if sbom is None:
        return None
    counts: dict[str, int] = {}
    licenses: set[str] = set()
    components = [c for c in sbom.get("components") or [] if isinstance(c, dict)]
    for component in components:
        purl = component.get("purl")
        kind = purl[4:].split("/", 1)[0] if isinstance(purl, str) and purl.startswith("pkg:") else None
        kind = kind or str(component.get("type", "unknown"))
        counts[kind] = counts.get(kind, 0) + 1
        for entry in component.get("licenses") or []:
            if not isinstance(entry, dict):
                continue
            lic = entry.get("license") or {}
            text = entry.get("expression") or lic.get("id") or lic.get("name")
            if text:
                licenses.add(str(text))
    unowned = None
    for prop in (sbom.get("metadata") or {}).get("properties") or []:
        if isinstance(prop, dict) and prop.get("name") == "repro:unownedFiles:count":
            try:
                unowned = int(prop.get("value", ""))
            except ValueError:
                unowned = None
    return {
        "present": True,
        "format": sbom.get("bomFormat"),
        "spec_version": sbom.get("specVersion"),
        "components": dict(sorted(counts.items())),
        "component_total": len(components),
        "licenses": sorted(licenses),
        "unowned_files": unowned,
    }


def build_input(
    df: Dockerfile | None,
    graph: StageGraph | None = None,
    *,
    stage: Stage_ = "release",
    facts: ReleaseFacts | None = None,
) -> dict[str, Any]:
    """The whole input document from what is available.

    At the lint stage only the Dockerfile is known; at the release stage ``facts`` adds the
    image, its files, SBOM, reproducibility and signatures. Parts nobody supplied are null,
    so that a release-stage rule can tell "missing" from "fine".
    """
    facts = facts or ReleaseFacts()
    doc: dict[str, Any] = {"version": INPUT_VERSION, "stage": stage}
    if df is not None:
        graph = graph or build_stage_graph(df)
        doc["dockerfile"] = dockerfile_doc(df, graph)
        doc["pins"] = [_pin_doc(use, df.filename, facts.pins) for use in graph.external_images()]
    else:
        doc["dockerfile"] = None
        doc["pins"] = []
    doc["image"] = image_doc(facts)
    doc["files"] = (
        None
        if facts.file_findings is None
        else {"scanned": facts.files_scanned, "findings": [f.to_json() for f in facts.file_findings]}
    )
    doc["sbom"] = sbom_doc(facts.sbom)
    doc["reproducibility"] = (
        None
        if facts.reproducible is None
        else {"verified": facts.reproducible, "digests": list(facts.digests)}
    )
    doc["signatures"] = (
        None
        if facts.signatures is None
        else [
            {"subject": s.subject, "kind": s.kind, "verified": s.verified, "identity": s.identity}
            for s in facts.signatures
        ]
    )
    doc["source_date_epoch"] = facts.source_date_epoch
    doc["engine"] = engine_doc(facts.engine)
    return doc


def engine_doc(capabilities: Capabilities | None) -> dict[str, Any] | None:
    """``{"name": "buildah 1.28.2", "capabilities": {"heredocs": false, …}}``; null when no
    engine is known (the lint stage): a rule's advice must then build with any engine."""
    if capabilities is None:
        return None
    values = dataclasses.asdict(capabilities)
    name = values.pop("engine")
    return {"name": name, "capabilities": values}
