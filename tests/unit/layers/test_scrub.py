"""Scrub profiles: what each removes, what it keeps, and how ``auto`` chooses."""

from __future__ import annotations

import pytest

from repro.errors import UsageError
from repro.layers.scrub import PROFILES, Scrubber, detect_profiles, profile_names, resolve_profiles

#: What differs between two builds of `RUN apt-get update && apt-get install curl` on
#: Debian with --timestamp 0 (measured; see DESIGN.md).
SEED_PATHS = (
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/cache/ldconfig/aux-cache",
    "var/log/apt/history.log",
    "var/log/apt/term.log",
    "var/log/dpkg.log",
)


def scrubber(*names: str) -> Scrubber:
    return Scrubber(resolve_profiles(names))


def test_the_seed_paths_are_scrubbed_by_apt_dpkg_log_and_ldconfig() -> None:
    chosen = scrubber("apt", "dpkg-log", "ldconfig")
    assert {path: chosen.match(path) for path in SEED_PATHS} == {
        "var/cache/apt/pkgcache.bin": "apt",
        "var/cache/apt/srcpkgcache.bin": "apt",
        "var/cache/ldconfig/aux-cache": "ldconfig",
        "var/log/apt/history.log": "dpkg-log",
        "var/log/apt/term.log": "dpkg-log",
        "var/log/dpkg.log": "dpkg-log",
    }


@pytest.mark.parametrize(
    "path",
    [
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",  # same for one mirror state
        "var/lib/apt/lists/lock",
        "var/lib/apt/extended_states",
        "var/lib/dpkg/status",
        "etc/ld.so.cache",
        "var/cache/apt/archives/curl_7.88.1-10_amd64.deb",
        "var/log/apt",  # the directory itself (directories are never removed anyway)
        "var/log/apt/sub/deeper.log",  # '*' stays within one component
        "usr/var/log/dpkg.log",  # patterns are anchored at the root
    ],
)
def test_what_the_profiles_keep(path: str) -> None:
    assert scrubber("apt", "dpkg-log", "ldconfig", "npm-cache").match(path) is None


def test_pycache_and_npm_cache() -> None:
    chosen = scrubber("pycache", "npm-cache")
    assert chosen.match("usr/lib/python3/dist-packages/__pycache__/six.cpython-311.pyc") == "pycache"
    assert chosen.match("__pycache__/top.cpython-311.pyc") == "pycache"
    assert chosen.match("usr/lib/python3/six.py") is None
    assert chosen.match("root/.npm/_cacache/index-v5/aa/bb/cc") == "npm-cache"
    assert chosen.match("home/node/.npm/_logs/2026-01-01T00_00_00_000Z-debug-0.log") == "npm-cache"
    assert chosen.match("root/.npmrc") is None
    assert chosen.match("usr/lib/node_modules/npm/package.json") is None


def test_unknown_profiles_are_a_usage_error_naming_the_choices() -> None:
    with pytest.raises(UsageError, match="'apt-lists'") as info:
        resolve_profiles(["apt", "apt-lists"])
    assert "auto" in info.value.hint
    assert "dpkg-log" in info.value.hint


def test_profiles_come_in_a_fixed_order_whatever_was_asked() -> None:
    assert [p.name for p in resolve_profiles(["ldconfig", "apt", "ldconfig"])] == ["apt", "ldconfig"]
    assert profile_names() == ("apt", "dpkg-log", "ldconfig", "pycache", "npm-cache", "auto")


def test_auto_picks_by_what_the_image_contains() -> None:
    debian = ["bin/bash", "usr/bin/apt-get", "var/lib/dpkg/status", "usr/sbin/ldconfig"]
    assert detect_profiles(debian) == {"apt", "dpkg-log", "ldconfig"}
    assert detect_profiles(["bin/busybox", "etc/passwd"]) == set()
    assert detect_profiles(["home/app/.npm", "usr/lib/python3.11/__pycache__/x.pyc"]) == {"npm-cache"}
    chosen = resolve_profiles(["auto"], debian)
    assert [p.name for p in chosen] == ["apt", "dpkg-log", "ldconfig"]
    # pycache is never chosen by auto (it costs start-up time): only when asked for
    assert [p.name for p in resolve_profiles(["auto", "pycache"], ["bin/sh"])] == ["pycache"]
    assert not any(p.in_auto for p in PROFILES if p.name == "pycache")


def test_an_empty_scrubber_is_false_and_matches_nothing() -> None:
    empty = Scrubber(())
    assert not empty
    assert empty.match("var/log/dpkg.log") is None


def test_what_was_scrubbed_is_described_per_profile_with_the_reason() -> None:
    from repro.layers.scrub import describe_scrubbed

    lines = describe_scrubbed(
        [
            (1, "var/log/dpkg.log", "dpkg-log"),
            (1, "var/cache/apt/pkgcache.bin", "apt"),
            (1, "var/log/apt/history.log", "dpkg-log"),
            (3, "var/log/apt/term.log", "dpkg-log"),
            (3, "var/log/alternatives.log", "dpkg-log"),
        ]
    )
    assert lines == [
        "apt: 1 file (apt's binary package caches (var/cache/apt/*.bin)): var/cache/apt/pkgcache.bin in layer 1",
        "dpkg-log: 4 files (dpkg, apt and update-alternatives logs): var/log/dpkg.log, "
        "var/log/apt/history.log, var/log/apt/term.log (+1 more) in layers 1, 3",
    ]
    assert describe_scrubbed([]) == []
