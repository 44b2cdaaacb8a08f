"""Known causes of non-reproducible images, recognised in an image diff, with fixes.

:func:`explain` turns the raw differences :func:`repro.reproduce.diff.diff_images` finds into
:class:`Culprit` values: which paths, which layer, which instruction (``file:line``), what
differs, why, and what to change. Files that many builds leave behind (apt and dpkg logs,
apt caches, ``ldconfig``'s aux-cache, ``.pyc`` files, npm and Go caches, Java's trust
store, machine IDs, …) are recognised by path; files whose content is a date or the build
container's hostname, times the engine did not clamp, owners, modes and the image config's
own fields by what differs.

A summary reads like::

    var/log/dpkg.log written by RUN at Dockerfile:2 — dpkg and apt log every run with the
    time; use --scrub dpkg-log, or rm it in the same RUN
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from repro.reproduce.changes import ConfigChange, EntryDiff, LayerDiff
from repro.reproduce.history import LayerOrigin

__all__ = ["Culprit", "explain"]

#: Paths kept per finding; the rest are counted.
MAX_FINDING_PATHS = 20
_SHOWN_PATHS = 3
_CONTENT_ASPECTS = frozenset({"presence", "type", "content", "link", "device"})
_TEXT_LIMIT = 200
_TIMESTAMP_RES = (
    re.compile(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d(?:[T ]|\b)"),  # ISO 8601 / RFC 3339
    re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b.*\b\d?\d:\d\d:\d\d\b"),  # date(1)
    re.compile(r"\b\d?\d:\d\d:\d\d\b.*\b(?:19|20)\d\d\b"),
    re.compile(r"\A\s*1\d{9}(?:\.\d+)?\s*\Z"),  # seconds since the epoch
)


@dataclass(frozen=True, slots=True)
class Culprit:
    """One known (or unexplained) cause of a difference.

    ``subject`` names what is affected (paths and the instruction that wrote them, a
    layer, config fields); ``what`` what differs (``content``, ``mtime``, …). ``paths``
    lists up to :data:`MAX_FINDING_PATHS` of the ``count`` paths concerned.
    """

    culprit: str
    subject: str
    what: str
    cause: str
    fix: str
    paths: tuple[str, ...] = ()
    count: int = 0
    layer: int | None = None
    origin: LayerOrigin | None = None

    @property
    def path(self) -> str | None:
        return self.paths[0] if self.paths else None

    @property
    def location(self) -> str | None:
        """``file:line`` of the instruction responsible, when known."""
        return self.origin.location if self.origin else None

    def summary(self) -> str:
        return f"{self.subject} — {self.cause}; {self.fix}"

    def to_json(self) -> dict[str, Any]:
        return {
            "culprit": self.culprit,
            "summary": self.summary(),
            "layer": self.layer,
            "instruction": self.origin.keyword if self.origin else None,
            "location": self.location,
            "what": self.what,
            "paths": list(self.paths),
            "count": self.count,
            "cause": self.cause,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class _Rule:
    """A file culprit. ``run`` says what to do in the RUN that wrote the file ("{it}" and
    "{run}" are filled in); ``copied`` what to do when COPY or ADD brought it in; ``fix``
    replaces both when the remedy does not depend on the instruction."""

    culprit: str
    cause: str
    matches: Callable[[EntryDiff], bool]
    scrub: str | None = None
    run: str = ""
    copied: str = "keep {it} out of the build context (.dockerignore)"
    fix: str = ""
    what: str = "content"


def _path(pattern: str) -> Callable[[EntryDiff], bool]:
    regex = re.compile(pattern)

    def matches(entry: EntryDiff) -> bool:
        return bool(_CONTENT_ASPECTS.intersection(entry.aspects)) and regex.search(entry.path) is not None

    return matches


def _is_build_time(entry: EntryDiff) -> bool:
    if "content" not in entry.aspects or entry.a is None or entry.b is None:
        return False
    return all(_looks_like_time(side.sample) for side in (entry.a, entry.b))


def _looks_like_time(sample: bytes | None) -> bool:
    if sample is None or len(sample) > _TEXT_LIMIT:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if not text.isprintable() and not all(c.isprintable() or c in "\n\r\t" for c in text):
        return False
    return any(regex.search(text) for regex in _TIMESTAMP_RES)


#: A build container's hostname: buildah names it after the container id (12 hex digits),
#: new in every build. BuildKit's is the constant "buildkitsandbox".
_CONTAINER_HOSTNAME_RE = re.compile(rb"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])")


def _records_hostname(entry: EntryDiff) -> bool:
    """Whether the two contents differ only in a container-id-shaped word (the hostname)."""
    if "content" not in entry.aspects or entry.a is None or entry.b is None:
        return False
    a, b = entry.a.sample, entry.b.sample
    if a is None or b is None or a == b:
        return False
    if not (_CONTAINER_HOSTNAME_RE.search(a) and _CONTAINER_HOSTNAME_RE.search(b)):
        return False
    return _CONTAINER_HOSTNAME_RE.sub(b"HOST", a) == _CONTAINER_HOSTNAME_RE.sub(b"HOST", b)


def _has(aspect: str) -> Callable[[EntryDiff], bool]:
    def matches(entry: EntryDiff) -> bool:
        return aspect in entry.aspects

    return matches


_NORMALISE = "let repro normalise the layers"

# What explains a difference in content or presence; the first rule that matches wins.
_CONTENT_RULES: tuple[_Rule, ...] = (
    _Rule(
        culprit="storage-driver",
        cause="the storage driver adds or omits /run (overlay adds it, vfs does not)",
        matches=lambda e: e.path == "run" and e.aspects == ("presence",),
        fix="build both with the same storage driver (buildah --storage-driver)",
        what="presence",
    ),
    _Rule(
        culprit="dpkg-log",
        cause="dpkg and apt log every run with the time",
        matches=_path(
            r"^var/log/(?:dpkg\.log|alternatives\.log|apt/(?:history|term)\.log|apt/eipp\.log\.xz)$"
        ),
        scrub="dpkg-log",
        run="rm {it} in {run}",
    ),
    _Rule(
        culprit="apt",
        cause="apt's binary package caches record build-time state",
        matches=_path(r"^var/cache/apt/[^/]*\.bin$"),
        scrub="apt",
        run="rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin in {run}",
    ),
    _Rule(
        culprit="apt-lists",
        cause="apt's package lists change with the mirror and the time of 'apt-get update'",
        matches=_path(r"^var/lib/apt/lists/"),
        run="rm -rf /var/lib/apt/lists/* in {run} (--scrub apt keeps the lists)",
    ),
    _Rule(
        culprit="ldconfig",
        cause="ldconfig's aux-cache records file times and inode numbers",
        matches=_path(r"^var/cache/ldconfig/aux-cache$"),
        scrub="ldconfig",
        run="rm -f /var/cache/ldconfig/aux-cache in {run}",
    ),
    _Rule(
        culprit="pycache",
        cause="Python byte-code records the source file's time",
        matches=_path(r"(?:^|/)__pycache__/[^/]*\.pyc$"),
        scrub="pycache",
        run=(
            "set ENV PYTHONDONTWRITEBYTECODE=1 before {run}, or compile with "
            "'python -m compileall --invalidation-mode unchecked-hash'"
        ),
    ),
    _Rule(
        culprit="npm-cache",
        cause="npm's cache and logs hold download times and random names",
        matches=_path(r"^(?:root|home/[^/]+)/\.npm/"),
        scrub="npm-cache",
        run="run 'npm cache clean --force' (or rm -rf ~/.npm) in {run}",
    ),
    _Rule(
        culprit="yarn-cache",
        cause="yarn's cache holds download times",
        matches=_path(r"(?:^|/)\.cache/yarn/|(?:^|/)\.yarn/cache/"),
        run="run 'yarn cache clean' in {run}",
    ),
    _Rule(
        culprit="pip-cache",
        cause="pip's cache records download times",
        matches=_path(r"(?:^|/)\.cache/pip/"),
        run="use 'pip install --no-cache-dir' in {run}",
    ),
    _Rule(
        culprit="machine-id",
        cause="a machine ID is random by design",
        matches=_path(r"^(?:etc/machine-id|var/lib/dbus/machine-id)$"),
        run="truncate or rm {it} in {run} (it is generated at first boot)",
    ),
    _Rule(
        culprit="ssh-host-keys",
        cause="SSH host keys are generated at random when openssh-server is installed",
        matches=_path(r"^etc/ssh/ssh_host_[^/]*$"),
        run="rm -f /etc/ssh/ssh_host_* in {run} and generate them when the container starts",
    ),
    _Rule(
        culprit="random-seed",
        cause="a random seed file is random by design",
        matches=_path(r"^var/lib/systemd/random-seed$|(?:^|/)\.rnd$"),
        run="rm {it} in {run}",
    ),
    _Rule(
        culprit="git",
        cause="a .git directory changes with every checkout and fetch",
        matches=_path(r"(?:^|/)\.git(?:/|$)"),
        run="delete the .git directory in {run} (or fetch a release archive instead)",
        copied="add .git to .dockerignore",
    ),
    _Rule(
        culprit="shadow",
        cause="useradd and passwd record the day of the last password change",
        matches=_path(r"^etc/(?:shadow|gshadow)-?$"),
        run="export SOURCE_DATE_EPOCH before useradd in {run} (shadow honours it)",
    ),
    _Rule(
        culprit="java-cacerts",
        cause=(
            "ca-certificates-java writes Java's trust store when the JDK is installed, a keystore "
            "holding the install time and random salts"
        ),
        matches=_path(r"^etc/ssl/certs/java/cacerts$"),
        run=(
            "install the JDK in a base image built once and pinned by digest (repro pin) "
            "instead of in {run}, or rm {it} there and run 'update-ca-certificates -f' when "
            "the container starts"
        ),
    ),
    _Rule(
        culprit="go-build-cache",
        cause="Go's build cache holds trim.txt (the time of its last trim) and cache entries of the build machine",
        matches=_path(r"(?:^|/)\.cache/go-build/"),
        run=(
            "keep the cache out of the layer with RUN --mount=type=cache,target=/root/.cache/go-build "
            "(the GOCACHE directory), or run 'go clean -cache' at the end of {run}"
        ),
    ),
    _Rule(
        culprit="archive-times",
        cause="jar records every entry's file time, which is the time of the build",
        matches=_path(r"\.(?:jar|war|ear)$"),
        run=(
            "pass --date=$(date -u -d @$SOURCE_DATE_EPOCH +%Y-%m-%dT%H:%M:%SZ) to 'jar' in {run} "
            "(JDK 17+), or run strip-nondeterminism on {it}"
        ),
    ),
    _Rule(
        culprit="archive-times",
        cause="the archive records its members' file times",
        matches=_path(r"\.(?:zip|whl|egg|a)$"),
        run=(
            "set SOURCE_DATE_EPOCH for the tool that builds {it} in {run}, "
            "or run strip-nondeterminism on {it}"
        ),
    ),
    _Rule(
        culprit="log",
        cause="a log file written during the build",
        matches=_path(r"^var/log/"),
        run="rm {it} in {run}",
    ),
    _Rule(
        culprit="hostname",
        cause=(
            "the file records the build container's hostname, which buildah sets to the "
            "container's id, new in every build"
        ),
        matches=_records_hostname,
        run=(
            "write a fixed name instead of $(hostname) in {run} (the hostname is the engine's, "
            "not the image's: set it when the container runs)"
        ),
    ),
    _Rule(
        culprit="build-time",
        cause="the command writes the build time",
        matches=_is_build_time,
        fix="use $SOURCE_DATE_EPOCH instead of the clock (e.g. date -u -d @$SOURCE_DATE_EPOCH)",
    ),
)

_UNEXPLAINED_CONTENT = _Rule(
    culprit="content",
    cause="the content differs for no known reason",
    matches=_path(r""),
    fix="compare the two files (diffoscope) to see what varies",
)
_UNEXPLAINED_PRESENCE = _Rule(
    culprit="presence",
    cause="the file exists in only one build",
    matches=_has("presence"),
    fix="check what creates it conditionally (network, time, random names)",
    what="presence",
)

# Metadata differences; each applies independently of the content rules.
_METADATA_RULES: tuple[_Rule, ...] = (
    _Rule(
        culprit="mtime",
        cause="the engine did not clamp file times",
        matches=_has("mtime"),
        fix=f"build with a fixed time (buildah --timestamp $SOURCE_DATE_EPOCH), or {_NORMALISE}",
        what="mtime",
    ),
    _Rule(
        culprit="owner",
        cause="files are owned by different uid/gid (different user namespaces, or COPY without --chown)",
        matches=_has("owner"),
        fix=f"build both as the same user, use COPY --chown, or {_NORMALISE}",
        what="owner",
    ),
    _Rule(
        culprit="mode",
        cause="permissions differ (umask or checkout modes of the build context)",
        matches=_has("mode"),
        fix=f"set the umask, use COPY --chmod, or {_NORMALISE}",
        what="mode",
    ),
    _Rule(
        culprit="xattrs",
        cause="extended attributes differ (capabilities, SELinux labels, or the storage driver)",
        matches=_has("xattrs"),
        fix=f"set them explicitly in the RUN (setcap), or {_NORMALISE}",
        what="xattrs",
    ),
    _Rule(
        culprit="tar-times",
        cause="the tar writer recorded access and change times (PAX atime/ctime)",
        matches=_has("pax"),
        fix=_NORMALISE,
        what="pax",
    ),
)


def explain(
    layers: Sequence[LayerDiff], config_changes: Sequence[ConfigChange], layer_counts: tuple[int, int]
) -> tuple[Culprit, ...]:
    """Every finding for a diff, most important first: layer-stack causes, then file causes
    layer by layer (specific culprits before metadata), then config causes."""
    findings: list[Culprit] = []
    if layer_counts[0] != layer_counts[1]:
        findings.append(
            Culprit(
                culprit="layer-count",
                subject=f"A has {layer_counts[0]} layers, B has {layer_counts[1]}",
                what="layers",
                cause="the builds ran different instructions, or one squashed its layers",
                fix="build both from the same Dockerfile with the same engine options (buildah --layers)",
                layer=min(layer_counts),
            )
        )
    base = next(
        (layer for layer in layers if layer.differs and layer.origin and layer.origin.source == "base"), None
    )
    if base is not None:
        findings.append(
            Culprit(
                culprit="base-image",
                subject=f"layer {base.index} from {base.origin.describe() if base.origin else 'the base image'}",
                what="layer",
                cause="the two builds started from different base images",
                fix="pin FROM by digest (repro pin) so both builds pull the same image",
                layer=base.index,
                origin=base.origin,
            )
        )
    for layer in layers:
        if layer.origin is not None and layer.origin.source == "base":
            continue
        if layer.status == "compression":
            findings.append(
                Culprit(
                    culprit="compression",
                    subject=f"layer {layer.index} ({_where(layer.origin, layer.index)})",
                    what="compression",
                    cause="same content, different compression",
                    fix="compare the uncompressed layouts, or compress with the same tool and level",
                    layer=layer.index,
                    origin=layer.origin,
                )
            )
        elif layer.status == "content":
            findings.extend(_layer_findings(layer))
    findings.extend(_config_findings(config_changes))
    return tuple(findings)


def _where(origin: LayerOrigin | None, layer: int) -> str:
    return origin.describe() if origin is not None else f"layer {layer}"


def _layer_findings(layer: LayerDiff) -> list[Culprit]:
    if not layer.entries:
        detail = "in entry order" if layer.order_differs else "in tar format or padding"
        return [
            Culprit(
                culprit="tar-format",
                subject=f"layer {layer.index} ({_where(layer.origin, layer.index)})",
                what="tar",
                cause=f"every entry is the same but the tar streams differ {detail}",
                fix=_NORMALISE,
                layer=layer.index,
                origin=layer.origin,
            )
        ]
    groups: dict[_Rule, list[str]] = {}
    for entry in layer.entries:
        rule = next((r for r in _CONTENT_RULES if r.matches(entry)), None)
        if rule is None and _CONTENT_ASPECTS.intersection(entry.aspects):
            rule = _UNEXPLAINED_PRESENCE if entry.only_in else _UNEXPLAINED_CONTENT
        if rule is not None:
            groups.setdefault(rule, []).append(entry.path)
        for meta in _METADATA_RULES:
            if meta.matches(entry):
                groups.setdefault(meta, []).append(entry.path)
    order = [*_CONTENT_RULES, _UNEXPLAINED_CONTENT, _UNEXPLAINED_PRESENCE, *_METADATA_RULES]
    return [_file_finding(rule, groups[rule], layer) for rule in sorted(groups, key=order.index)]


def _file_finding(rule: _Rule, paths: list[str], layer: LayerDiff) -> Culprit:
    origin = layer.origin
    keyword = origin.keyword if origin is not None else None
    it = "it" if len(paths) == 1 else "them"
    if rule.fix:
        fix = rule.fix
    else:
        parts = [f"use --scrub {rule.scrub}"] if rule.scrub else []
        stage = _copied_from_stage(origin)
        if stage is not None and rule.run:
            # COPY --from=STAGE: the file was written by a RUN of that stage.
            parts.append(rule.run.format(it=it, run=f"the RUN of stage {stage} that writes {it}"))
        elif keyword in ("COPY", "ADD"):
            parts.append(rule.copied.format(it=it))
        elif rule.run:
            run = "the same RUN" if keyword == "RUN" else f"the RUN that writes {it}"
            parts.append(rule.run.format(it=it, run=run))
        fix = ", or ".join(parts)
    shown = ", ".join(paths[:_SHOWN_PATHS])
    if len(paths) > _SHOWN_PATHS:
        shown += f" (+{len(paths) - _SHOWN_PATHS} more)"
    verb = {"RUN": "written by", "COPY": "added by", "ADD": "added by"}.get(keyword or "", "in")
    return Culprit(
        culprit=rule.culprit,
        subject=f"{shown} {verb} {_where(origin, layer.index)}",
        what=rule.what,
        cause=rule.cause,
        fix=fix,
        paths=tuple(paths[:MAX_FINDING_PATHS]),
        count=len(paths),
        layer=layer.index,
        origin=origin,
    )


def _copied_from_stage(origin: LayerOrigin | None) -> str | None:
    """The stage a ``COPY --from=STAGE`` copies from (None for other instructions)."""
    if origin is None or origin.instruction is None or origin.keyword != "COPY":
        return None
    values = [v for v in origin.instruction.flag_values("from") if v]
    return values[-1] if values else None


_CONFIG_RULES: tuple[tuple[str, re.Pattern[str], str, str], ...] = (
    (
        "created-time",
        re.compile(
            r"^(?:created|history\[\d+\]\.created|"
            r'manifest\.annotations\["org\.opencontainers\.image\.created"\])$'
        ),
        "the image records when it was built",
        "build with a fixed time (buildah --timestamp $SOURCE_DATE_EPOCH)",
    ),
    (
        "builder-version",
        re.compile(r'^config\.Labels\["io\.buildah\.version"\]$'),
        "the builds used different buildah versions (the label is also inherited from buildah-built bases)",
        "build with the same buildah version and --identity-label=false",
    ),
    (
        "history-text",
        re.compile(r"^history\[\d+\]\.(?:created_by|comment)$"),
        "the recorded instructions differ (Dockerfile text, build args or the FROM line)",
        "build both from the same Dockerfile and build args",
    ),
)


#: The order config findings are reported in (the base image before the history text it explains).
_CONFIG_ORDER = ("created-time", "builder-version", "base-name", "history-text")
_BASE_NAME = 'manifest.annotations["org.opencontainers.image.base.name"]'
_BASE_DIGEST = 'manifest.annotations["org.opencontainers.image.base.digest"]'


def _base_finding(changes: Sequence[ConfigChange]) -> Culprit | None:
    """Why the base image annotations differ, judged by their values.

    The normaliser derives ``base.digest`` from the digest ``base.name`` pins, so a
    difference means the two FROM lines named different images, or one image was not
    normalised (an engine's intermediate image id in ``base.digest``).
    """
    by_path = {change.path: change for change in changes if change.path in (_BASE_NAME, _BASE_DIGEST)}
    if not by_path:
        return None
    name = by_path.get(_BASE_NAME)
    if name is None:
        cause = "the base.digest annotation differs although both builds name the same base image"
        fix = f"an engine wrote an intermediate image id there: {_NORMALISE} (it sets base.digest from base.name)"
    else:
        pinned = ["@" in value for value in (name.a, name.b) if isinstance(value, str)]
        if len(pinned) == 2 and pinned[0] != pinned[1]:
            cause = "the base image was named by tag in one build and by digest in the other"
            fix = "pin it by digest (repro pin) in the Dockerfile both builds use"
        elif all(pinned) and len(pinned) == 2:
            cause = "the two builds' FROM lines pin different base image digests"
            fix = "build both from the same Dockerfile and build args"
        else:
            cause = "the two builds started from differently named base images"
            fix = "build both from the same Dockerfile, with FROM pinned by digest (repro pin)"
    paths = list(by_path)
    return Culprit(
        culprit="base-name",
        subject=f"config {', '.join(paths)}",
        what="config",
        cause=cause,
        fix=fix,
        paths=tuple(paths),
        count=len(paths),
    )


def _config_findings(changes: Sequence[ConfigChange]) -> list[Culprit]:
    found: list[Culprit] = []
    base = _base_finding(changes)
    for culprit, pattern, cause, fix in _CONFIG_RULES:
        paths = [change.path for change in changes if pattern.match(change.path)]
        if not paths:
            continue
        shown = ", ".join(paths[:_SHOWN_PATHS])
        if len(paths) > _SHOWN_PATHS:
            shown += f" (+{len(paths) - _SHOWN_PATHS} more)"
        found.append(
            Culprit(
                culprit=culprit,
                subject=f"config {shown}",
                what="config",
                cause=cause,
                fix=fix,
                paths=tuple(paths[:MAX_FINDING_PATHS]),
                count=len(paths),
            )
        )
    if base is not None:
        found.append(base)
    return sorted(found, key=lambda finding: _CONFIG_ORDER.index(finding.culprit))
