"""Engine bookkeeping in an image that the Dockerfile did not ask for, and how to tell it
from what the user's instructions made.

Four kinds, all removed by the normaliser:

- **Mount points left in RUN layers.** To run a RUN step buildah bind-mounts the
  container's ``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf`` and needs
  ``/dev``, ``/proc``, ``/sys`` and ``/run`` to exist; where the parent image lacks them it
  creates them, and they end up in the step's layer: three *empty* regular files of mode
  0755 (a mode no tool gives a hosts file) and four empty directories.
  :func:`mount_point_leftovers` finds them.
- **Mount-point directories BuildKit leaves in RUN layers.** BuildKit's RUN layers keep
  an entry for each directory the runtime mounted over (``dev``, ``proc``, ``sys``, and
  ``etc`` for the hosts and resolv.conf files): empty, mode 0755, owned by root, whether
  the base had them or not. The engine declares them
  (:attr:`~repro.layers.noise.EngineNoise.mount_directories`) and
  :func:`unasked_mount_directories` finds those the step did not ask for.
- **History comments naming intermediate images** (``FROM 0b1453d0e5bc``): buildah records
  the id of the image each step started from, a random-looking id that differs between
  two builds of the same Dockerfile.
- **The ``org.opencontainers.image.base.digest`` annotation**, which buildah sets to the
  id of an intermediate image rather than to the base image's manifest digest.

    >>> mount_point_leftovers({"etc/hosts": empty_0755, "one": data})   # doctest: +SKIP
    ['etc/hosts']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

from repro.errors import ReferenceFormatError
from repro.reference import parse_reference

BASE_NAME_ANNOTATION: Final = "org.opencontainers.image.base.name"
BASE_DIGEST_ANNOTATION: Final = "org.opencontainers.image.base.digest"

#: Where repro mounts the CA bundle (``--ca-bundle``) in RUN steps: a path of repro's own.
CA_BUNDLE_MOUNT: Final = "/run/repro/ca-certificates.crt"
#: Files bind-mounted over during RUN steps (the CA bundle only with ``--ca-bundle``).
#: Writes in the step go to the mounted file, never into the layer, so a RUN layer can
#: only hold them as the engine's empty mount targets.
MOUNTED_FILES: Final = ("etc/hostname", "etc/hosts", "etc/resolv.conf", CA_BUNDLE_MOUNT.lstrip("/"))
#: Directories the engine needs as mount points (devices, proc, sysfs, runtime files).
MOUNT_DIRECTORIES: Final = ("dev", "proc", "sys", "run")
_DIR_KIND: Final = b"5"
_REG_KIND: Final = b"0"
_LEFTOVER_MODE: Final = 0o755

#: buildah's history comment for a step: ``FROM`` and the 12-hex-digit id of the image the
#: step started from (a reference always has a ``/``, ``:`` or ``@`` or is not all hex).
_INTERMEDIATE_COMMENT: Final = re.compile(r"\AFROM [0-9a-f]{12}(?:[0-9a-f]{52})?\Z")
_IMAGE_ID: Final = re.compile(r"\A(?:sha256:)?[0-9a-f]{12}(?:[0-9a-f]{52})?\Z")


class _Entry(Protocol):
    kind: bytes
    mode: int
    uid: int
    gid: int
    size: int


def mount_point_leftovers(entries: Mapping[str, _Entry], instruction: str = "") -> list[str]:
    """The paths of one RUN layer's ``entries`` that are the engine's mount points.

    The signature, in this order:

    1. ``etc/hosts``, ``etc/hostname``, ``etc/resolv.conf`` (and repro's CA bundle mount
       point) that are empty regular files with mode 0755 owned by root. A RUN step cannot
       write these paths into its layer (they are bind-mounted while it runs), so such an
       entry is always the engine's.
    2. Only if 1. found at least one (the fingerprint of the engine creating mount points
       in this layer): the top-level ``dev``, ``proc``, ``sys``, ``run`` directories that
       are empty in this layer, mode 0755, owned by root. A ``run/`` holding anything the
       step wrote (``run/app/pid``) stays, and so does every such directory in a layer
       without the fingerprint — an empty ``mkdir /run`` on a base that already had hosts
       files is kept, as the user wrote it — and every one the RUN ``instruction`` (its
       history text) names (:func:`names_path`: ``RUN mkdir /proc`` keeps ``proc``).
    3. The parent directories of what 1. and 2. removed (``etc/``, ``run/repro/``,
       ``run/``) when nothing else is under them in this layer and they are plain root
       0755 directories: they are in the layer only because the engine wrote into them.

    Hard-linked entries (another path shares the inode) are never removed.
    """
    linked = _hard_linked(entries)
    found = [
        path
        for path in MOUNTED_FILES
        if (entry := entries.get(path)) is not None
        and entry.kind == _REG_KIND
        and entry.size == 0
        and _is_plain(entry)
        and id(entry) not in linked
    ]
    if not found:
        return []
    removed = set(found)
    for directory in MOUNT_DIRECTORIES:
        entry = entries.get(directory)
        if (
            entry is not None
            and entry.kind == _DIR_KIND
            and _is_plain(entry)
            and not _has_children(entries, directory, removed)
            and not names_path(instruction, directory)
        ):
            removed.add(directory)
    parents = sorted({p.rsplit("/", i)[0] for p in removed for i in range(1, p.count("/") + 1)}, reverse=True)
    for directory in parents:  # deepest first, so run/repro goes before run
        entry = entries.get(directory)
        if (
            entry is not None
            and entry.kind == _DIR_KIND
            and _is_plain(entry)
            and not _has_children(entries, directory, removed)
        ):
            removed.add(directory)
    return sorted(removed)


def unasked_mount_directories(
    entries: Mapping[str, _Entry], directories: Iterable[str], instruction: str
) -> list[str]:
    """The top-level ``directories`` (an engine's declared mount points) that one RUN
    layer holds only because the engine mounted over them.

    The rule: such an entry is removed when it is a directory of mode 0755 owned by root
    (the runtime's default), with nothing under it in this layer, and the RUN
    ``instruction`` (its history text) does not name it as a path of its own (``/proc``,
    ``proc``, ``/proc/``). A directory the user created (``RUN mkdir /proc``), changed
    (``chmod``, ``chown``) or wrote into stays, so a user's directory is never removed;
    what is removed is at most a directory entry whose only effect would be a time.

    >>> unasked_mount_directories({"proc": dir_0755}, ["proc"], "RUN make")   # doctest: +SKIP
    ['proc']
    """
    removed = []
    for directory in sorted(set(directories)):
        entry = entries.get(directory)
        if (
            entry is not None
            and entry.kind == _DIR_KIND
            and _is_plain(entry)
            and not _has_children(entries, directory, set())
            and not names_path(instruction, directory)
        ):
            removed.append(directory)
    return removed


def names_path(instruction: str, directory: str) -> bool:
    """Whether ``instruction`` names the top-level ``directory`` itself, as ``/dir``,
    ``/dir/`` or the bare word ``dir`` (a path under it, ``/dir/x``, does not count).

    >>> names_path("mkdir -p /proc", "proc"), names_path("cat /proc/cpuinfo", "proc")
    (True, False)
    """
    pattern = rf"(?<![\w./$-])/?{re.escape(directory)}/?(?![\w./-])"
    return re.search(pattern, instruction) is not None


def _is_plain(entry: _Entry) -> bool:
    return entry.mode & 0o7777 == _LEFTOVER_MODE and entry.uid == 0 and entry.gid == 0


def _has_children(entries: Mapping[str, _Entry], directory: str, removed: set[str]) -> bool:
    prefix = directory + "/"
    return any(path.startswith(prefix) and path not in removed for path in entries)


def _hard_linked(entries: Mapping[str, _Entry]) -> set[int]:
    seen: set[int] = set()
    shared: set[int] = set()
    for entry in entries.values():
        key = id(entry)
        (shared if key in seen else seen).add(key)
    return shared


# --- the config and the manifest ---------------------------------------------------------


def base_history_length(history: Sequence[Any], base_name: str | None) -> int:
    """How many leading ``history`` entries come from the base image.

    buildah marks the first entry of the build with the comment ``FROM <base image>``; the
    entries before it are the base image's own. ``base_name`` (the ``base.name``
    annotation, written in the OCI format) names the marker exactly; without it (the
    Docker format) the marker is the last comment ``FROM <reference>`` — the build's own
    other entries name only intermediate image ids. Without a marker (``FROM scratch``,
    other engines) none are the base's.
    """
    for index in range(len(history) - 1, -1, -1):
        entry = history[index]
        comment = entry.get("comment") if isinstance(entry, Mapping) else None
        if not isinstance(comment, str) or not comment.startswith("FROM "):
            continue
        if base_name is not None:
            if comment == f"FROM {base_name}":
                return index
        elif not is_intermediate_comment(comment) and _is_reference(comment[len("FROM ") :]):
            return index
    return 0


def _is_reference(text: str) -> bool:
    try:
        parse_reference(text)
    except ReferenceFormatError:
        return False
    return _IMAGE_ID.match(text) is None


def is_intermediate_comment(comment: object) -> bool:
    """Whether a history comment names an intermediate image of this build."""
    return isinstance(comment, str) and _INTERMEDIATE_COMMENT.match(comment) is not None


def run_layer_indexes(history: Sequence[Any], layer_count: int, base_history: int) -> frozenset[int]:
    """Indexes of the layers this build's RUN instructions made.

    Layers map to the history entries without ``empty_layer``, in order. Classic history
    text marks every instruction but RUN with ``#(nop)``; BuildKit writes ``RUN …``. When
    the history does not account for every layer, no layer is claimed (nothing removed).
    """
    layered = [h for h in history if isinstance(h, Mapping) and not h.get("empty_layer")]
    if len(layered) != layer_count:
        return frozenset()
    own_from = sum(1 for h in history[:base_history] if isinstance(h, Mapping) and not h.get("empty_layer"))
    runs = set()
    for index, entry in enumerate(layered):
        if index < own_from:
            continue
        created_by = str(entry.get("created_by", ""))
        if created_by.startswith("RUN ") or (
            "#(nop)" not in created_by and not created_by.startswith(("COPY ", "ADD "))
        ):
            runs.add(index)
    return frozenset(runs)


_COPY_RE: Final = re.compile(r"\A(?:\S*sh -c #\(nop\) )?(?:COPY|ADD)\b")


def copy_layer_indexes(history: Sequence[Any], layer_count: int, base_history: int) -> frozenset[int]:
    """Indexes of the layers this build's COPY and ADD instructions made (the user's own
    files: ``--scrub auto`` leaves them alone). Empty when the history does not account
    for every layer."""
    layered = [h for h in history if isinstance(h, Mapping) and not h.get("empty_layer")]
    if len(layered) != layer_count:
        return frozenset()
    own_from = sum(1 for h in history[:base_history] if isinstance(h, Mapping) and not h.get("empty_layer"))
    return frozenset(
        index
        for index, entry in enumerate(layered)
        if index >= own_from and _COPY_RE.match(str(entry.get("created_by", "")))
    )


def normalize_base_annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    """``annotations`` with ``base.digest`` set to the digest ``base.name`` pins, or dropped.

    buildah writes an intermediate image id as ``base.digest``; the pinned reference in
    ``base.name`` carries the base image's real manifest digest. A base name without a
    digest (an unpinned FROM) keeps its name but loses the digest, which repro cannot know
    without asking the registry; a base name that is no reference (an image id) is dropped.
    """
    out = {k: v for k, v in annotations.items() if k != BASE_DIGEST_ANNOTATION}
    name = out.get(BASE_NAME_ANNOTATION)
    if name is None:
        return out
    try:
        reference = parse_reference(name)
    except ReferenceFormatError:
        reference = None
    if reference is None or _IMAGE_ID.match(name):
        del out[BASE_NAME_ANNOTATION]
        return out
    if reference.digest is not None:
        out[BASE_DIGEST_ANNOTATION] = str(reference.digest)
    return out


# --- variables repro gave RUN steps --------------------------------------------------------

_ARG_ENTRY: Final = re.compile(r"\A(?:\S*sh -c #\(nop\) )?ARG (?P<names>[A-Za-z_][A-Za-z0-9_ ]*?)\s*\Z")
_ARGS_PREFIX: Final = re.compile(r"\A(?P<run>RUN )?\|(?P<count>\d+) ")


def is_run_variables_entry(entry: Mapping[str, Any], variables: Mapping[str, str]) -> bool:
    """Whether a history entry is the ``ARG`` line that declared repro's RUN variables.

    A stage's own ``ARG SOURCE_DATE_EPOCH`` reads the same and goes too: it makes no layer,
    and the value it declares is the image's ``created`` time.
    """
    if not variables or not entry.get("empty_layer"):
        return False
    match = _ARG_ENTRY.match(str(entry.get("created_by", "")))
    return match is not None and set(match["names"].split()) <= set(variables)


def strip_run_variables(created_by: str, variables: Mapping[str, str]) -> str:
    """``created_by`` without the ``NAME=VALUE`` words of repro's RUN variables.

    Engines record the build arguments a RUN step saw as ``|2 A=1 B=2 /bin/sh -c …``
    (BuildKit: ``RUN |2 A=1 …``); only the words that are exactly one of ``variables``
    are removed, the count is corrected, and a count of 0 drops the prefix.
    """
    match = _ARGS_PREFIX.match(created_by)
    if match is None or not variables:
        return created_by
    count = int(match["count"])
    rest = created_by[match.end() :]
    # The NAME=VALUE words come first; values with spaces make them ambiguous, and then
    # only the first occurrence of each word is looked for.
    words = re.match(rf"(?:[A-Za-z_][A-Za-z0-9_]*=\S* ){{{count}}}", rest)
    head, tail = (rest[: words.end()], rest[words.end() :]) if words else (rest, "")
    removed = 0
    for name, value in variables.items():
        word = f"{name}={value} "
        if head.startswith(word) or f" {word}" in head:
            head = head[len(word) :] if head.startswith(word) else head.replace(f" {word}", " ", 1)
            removed += 1
    if removed == 0:
        return created_by
    count -= removed
    prefix = match["run"] or ""
    return f"{prefix}|{count} {head}{tail}" if count > 0 else f"{prefix}{head}{tail}"
