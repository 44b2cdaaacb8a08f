"""``RUN --mount=…`` flags read as BuildKit reads them: one :class:`RunMount` per flag.

    >>> from repro.dockerfile import parse
    >>> ins = parse(b"FROM x\\nRUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok\\n").instructions[1]
    >>> [(m.type, m.id, m.target, m.required) for m in run_mounts(ins)]
    [('secret', 'tok', '/run/secrets/tok', True)]

The value of ``--mount`` is one CSV record of ``key=value`` fields (Go's encoding/csv);
keys are case-insensitive, ``type`` defaults to ``bind``, a secret's ``id`` defaults to the
base name of its target and its target to ``/run/secrets/ID``.
"""

from __future__ import annotations

import csv
import posixpath
from dataclasses import dataclass

from repro.dockerfile import Instruction
from repro.errors import DockerfileError

MOUNT_TYPES = frozenset({"bind", "cache", "tmpfs", "secret", "ssh"})
_TRUE = frozenset({"1", "t", "true"})  # Go's strconv.ParseBool
_FALSE = frozenset({"0", "f", "false"})


@dataclass(frozen=True)
class RunMount:
    """One ``--mount`` of a ``RUN`` instruction; ``fields`` holds every ``key=value`` as written."""

    type: str
    line: int
    text: str
    target: str | None = None
    id: str | None = None
    source: str | None = None
    from_: str | None = None
    required: bool = False
    fields: tuple[tuple[str, str], ...] = ()


def _bool(value: str, *, line: int, filename: str, key: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE or value == "":
        return True
    if lowered in _FALSE:
        return False
    raise DockerfileError(f"{filename}:{line}: --mount {key}={value}: not a boolean")


def parse_mount(value: str, *, line: int, filename: str = "Dockerfile") -> RunMount:
    """The mount that ``--mount=VALUE`` on ``line`` describes."""
    try:
        records = list(csv.reader([value], strict=True))
    except csv.Error as exc:
        raise DockerfileError(f"{filename}:{line}: failed to parse csv mounts: {exc}") from None
    fields: list[tuple[str, str]] = []
    for item in records[0] if records else []:
        key, _, val = item.partition("=")
        fields.append((key.strip().lower(), val))
    values = dict(fields)
    mount_type = values.get("type", "bind").lower()
    if mount_type not in MOUNT_TYPES:
        raise DockerfileError(f"{filename}:{line}: unsupported mount type {mount_type!r}")
    target = values.get("target", values.get("dst", values.get("destination")))
    mount_id = values.get("id")
    if mount_type == "secret":
        if mount_id is None and target:
            mount_id = posixpath.basename(target)
        if target is None and mount_id:
            target = f"/run/secrets/{mount_id}"
    required = False
    if "required" in values:
        required = _bool(values["required"], line=line, filename=filename, key="required")
    return RunMount(
        type=mount_type,
        line=line,
        text=value,
        target=target,
        id=mount_id,
        source=values.get("source", values.get("src")),
        from_=values.get("from"),
        required=required,
        fields=tuple(fields),
    )


def run_mounts(instruction: Instruction, *, filename: str = "Dockerfile") -> list[RunMount]:
    """Every ``--mount`` of ``instruction`` (none for anything but ``RUN``)."""
    if instruction.keyword != "RUN":
        return []
    return [
        parse_mount(value, line=instruction.start_line, filename=filename)
        for value in instruction.flag_values("mount")
        if value is not None
    ]


__all__ = ["MOUNT_TYPES", "RunMount", "parse_mount", "run_mounts"]
