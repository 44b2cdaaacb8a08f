"""Scrub profiles: files that tools write with volatile content (clocks, caches), which the
normaliser may remove from every layer of an image.

Scrubbing is off unless asked for. A profile is a set of path patterns (``*`` matches
within one path component, ``**`` any number of components) plus *markers*: paths whose
presence shows the tool is in the image, which is how ``auto`` picks profiles.

    >>> scrubber = Scrubber(resolve_profiles(["apt", "dpkg-log"]))
    >>> scrubber.match("var/cache/apt/pkgcache.bin")
    'apt'
    >>> scrubber.match("var/lib/apt/lists/lock") is None
    True

Semantics (see ``normalize_layout``): a matching entry that is not a directory is
*removed* from the layer; directories stay, so the tree keeps its shape. Every layer of the
image is scrubbed with the same profiles, so no lower layer can still show a removed file
and no whiteout is needed; whiteouts the build itself made are kept (they are data, and the
same in every build).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from repro.errors import UsageError

AUTO: Final = "auto"


@dataclass(frozen=True)
class ScrubProfile:
    """A named group of volatile paths and the markers that show its tool is present."""

    name: str
    patterns: tuple[str, ...]
    markers: tuple[str, ...]
    #: Whether ``auto`` may pick it (only profiles whose removal changes nothing a program
    #: relies on, beyond regenerating a cache or log).
    in_auto: bool
    description: str


PROFILES: Final[tuple[ScrubProfile, ...]] = (
    ScrubProfile(
        name="apt",
        # The binary package caches embed build-time state and hash-table layout; apt
        # rebuilds them on its next run. The package lists (var/lib/apt/lists) are kept:
        # they are the same in every build from one mirror state, and removing them changes
        # what 'apt-get install' does without a prior 'apt-get update'.
        patterns=("var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin"),
        markers=("var/lib/dpkg/status", "usr/bin/apt-get"),
        in_auto=True,
        description="apt's binary package caches (var/cache/apt/*.bin)",
    ),
    ScrubProfile(
        name="dpkg-log",
        # Logs with wall-clock time stamps; nothing reads them back.
        patterns=("var/log/dpkg.log", "var/log/apt/*", "var/log/alternatives.log"),
        markers=("var/lib/dpkg/status", "usr/bin/dpkg"),
        in_auto=True,
        description="dpkg, apt and update-alternatives logs",
    ),
    ScrubProfile(
        name="ldconfig",
        # ldconfig's auxiliary cache records file times and inode numbers; ld.so never reads
        # it (ld.so.cache is kept), ldconfig rebuilds it.
        patterns=("var/cache/ldconfig/aux-cache",),
        markers=("sbin/ldconfig", "usr/sbin/ldconfig"),
        in_auto=True,
        description="ldconfig's auxiliary cache (var/cache/ldconfig/aux-cache)",
    ),
    ScrubProfile(
        name="pycache",
        # Removing byte code only costs start-up time (Python recompiles, or reads the
        # source when it cannot write), but that cost is the user's call: not in auto.
        patterns=("**/__pycache__/*.pyc",),
        markers=(),
        in_auto=False,
        description="Python byte code in __pycache__ directories",
    ),
    ScrubProfile(
        name="npm-cache",
        patterns=(
            "root/.npm/_cacache/**",
            "root/.npm/_logs/**",
            "root/.npm/_update-notifier-last-checked",
            "home/*/.npm/_cacache/**",
            "home/*/.npm/_logs/**",
            "home/*/.npm/_update-notifier-last-checked",
        ),
        markers=("root/.npm", "home/*/.npm"),
        in_auto=True,
        description="npm's download cache and logs (~/.npm/_cacache, ~/.npm/_logs)",
    ),
)

_BY_NAME: Final = {profile.name: profile for profile in PROFILES}


def profile_names() -> tuple[str, ...]:
    """Every name ``scrub=`` accepts, ``auto`` last."""
    return (*_BY_NAME, AUTO)


def _glob_regex(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = []
    for pattern in patterns:
        out = []
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            elif pattern.startswith("**", i):
                out.append(".*")
                i += 2
            elif pattern[i] == "*":
                out.append("[^/]*")
                i += 1
            elif pattern[i] == "?":
                out.append("[^/]")
                i += 1
            else:
                out.append(re.escape(pattern[i]))
                i += 1
        parts.append("".join(out))
    if not parts:
        return None
    return re.compile("|".join(f"(?:{p})" for p in parts), re.DOTALL)


def resolve_profiles(names: Sequence[str], present: Iterable[str] | None = None) -> tuple[ScrubProfile, ...]:
    """The profiles ``names`` asks for, in the fixed order of :data:`PROFILES`.

    ``auto`` adds each auto-eligible profile whose markers match one of the ``present``
    paths (the image's paths, all layers); with ``auto`` and no ``present`` it adds none.
    Raise :class:`UsageError` for an unknown name.
    """
    unknown = [n for n in names if n != AUTO and n not in _BY_NAME]
    if unknown:
        raise UsageError(
            f"unknown scrub profile {', '.join(map(repr, unknown))}",
            hint=f"choose from: {', '.join(profile_names())}",
        )
    chosen = {n for n in names if n != AUTO}
    if AUTO in names and present is not None:
        chosen |= detect_profiles(present)
    return tuple(p for p in PROFILES if p.name in chosen)


def detect_profiles(paths: Iterable[str]) -> set[str]:
    """Names of the auto-eligible profiles whose markers match any of ``paths``."""
    candidates = [(p.name, _glob_regex(p.markers)) for p in PROFILES if p.in_auto]
    found: set[str] = set()
    for path in paths:
        for name, regex in candidates:
            if name not in found and regex is not None and regex.fullmatch(path):
                found.add(name)
        if len(found) == len(candidates):
            break
    return found


class Scrubber:
    """Decides, per path, whether an entry is scrubbed and by which profile."""

    def __init__(self, profiles: Sequence[ScrubProfile]) -> None:
        self.profiles = tuple(profiles)
        self._regexes = [(p.name, _glob_regex(p.patterns)) for p in self.profiles]

    def __bool__(self) -> bool:
        return bool(self.profiles)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.profiles)

    def match(self, path: str) -> str | None:
        """The name of the first profile that scrubs ``path`` (relative, no leading ``/``)."""
        for name, regex in self._regexes:
            if regex is not None and regex.fullmatch(path):
                return name
        return None


def describe_scrubbed(scrubbed: Iterable[tuple[int, str, str]], *, shown: int = 3) -> list[str]:
    """One line per profile for ``(layer, path, profile)`` triples: what was removed and why.

    >>> describe_scrubbed([(1, "var/log/dpkg.log", "dpkg-log")])
    ['dpkg-log: 1 file (dpkg, apt and update-alternatives logs): var/log/dpkg.log in layer 1']
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    for layer, path, profile in scrubbed:
        groups.setdefault(profile, []).append((layer, path))
    lines = []
    for profile in sorted(
        groups, key=lambda name: list(_BY_NAME).index(name) if name in _BY_NAME else len(_BY_NAME)
    ):
        entries = groups[profile]
        why = _BY_NAME[profile].description if profile in _BY_NAME else profile
        paths = ", ".join(path for _, path in entries[:shown])
        if len(entries) > shown:
            paths += f" (+{len(entries) - shown} more)"
        layers = sorted({layer for layer, _ in entries})
        where = f"layer{'s' if len(layers) > 1 else ''} {', '.join(map(str, layers))}"
        count = f"{len(entries)} file{'s' if len(entries) > 1 else ''}"
        lines.append(f"{profile}: {count} ({why}): {paths} in {where}")
    return lines
