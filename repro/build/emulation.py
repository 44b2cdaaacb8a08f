"""Can this machine run a platform's programs? Natively, or through qemu-user in binfmt_misc.

A RUN step of a foreign platform runs only if the kernel hands its binaries to an emulator:
qemu-user-static registered in ``/proc/sys/fs/binfmt_misc`` as ``qemu-<arch>`` (with the
``F`` flag, so that it works inside the build's root). Without one, the engine would fail
midway with ``exec format error`` — or, for a Dockerfile without RUN, build nothing wrong
and hide the gap until the next change. :func:`check_emulation` refuses such a platform
before any build, naming it and saying how to register the emulator.

    >>> emulator_for(Platform.parse("linux/arm64"), host=Platform.parse("linux/amd64"))
    'qemu-aarch64'
    >>> emulator_for(Platform.parse("linux/amd64"), host=Platform.parse("linux/amd64")) is None
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from repro.errors import BuildError
from repro.platform import Platform

#: qemu-user's binfmt entry names, by OCI architecture.
QEMU_NAMES: Final = {
    "amd64": "qemu-x86_64",
    "386": "qemu-i386",
    "arm64": "qemu-aarch64",
    "arm": "qemu-arm",
    "ppc64le": "qemu-ppc64le",
    "s390x": "qemu-s390x",
    "riscv64": "qemu-riscv64",
    "mips64le": "qemu-mips64el",
}
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
#: How to get the emulators (``make emulation`` in a checkout of repro does the same).
INSTALL_HINT: Final = (
    "install and register qemu-user-static: apt-get install qemu-user-static binfmt-support; "
    "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable "
    "(in a checkout of repro: make emulation)"
)


class EmulationError(BuildError):
    """A platform asked for cannot run on this machine: no emulator is registered for it."""

    default_hint = INSTALL_HINT


def binfmt_entries(binfmt_dir: Path = BINFMT_DIR) -> tuple[bool, dict[str, bool]]:
    """(mounted, {entry name: enabled}) of binfmt_misc."""
    if not (binfmt_dir / "status").is_file():
        return False, {}
    entries = {}
    for entry in binfmt_dir.iterdir():
        if entry.name in ("status", "register"):
            continue
        try:
            first = entry.read_text(errors="replace").splitlines()[:1]
        except OSError:
            continue
        entries[entry.name] = first == ["enabled"]
    return True, entries


def emulator_for(platform: Platform, *, host: Platform | None = None) -> str | None:
    """The binfmt entry ``platform`` needs on ``host`` (default: this machine); None: native."""
    host = host or Platform.host()
    if platform.os == host.os and platform.architecture == host.architecture:
        return None
    return QEMU_NAMES.get(platform.architecture, f"qemu-{platform.architecture}")


def check_emulation(
    platforms: Sequence[Platform], *, host: Platform | None = None, binfmt_dir: Path | None = None
) -> None:
    """Refuse every platform in ``platforms`` this machine can neither run nor emulate."""
    host = host or Platform.host()
    binfmt_dir = binfmt_dir or BINFMT_DIR
    missing: list[str] = []
    mounted, entries = binfmt_entries(binfmt_dir)
    for platform in platforms:
        if platform.os != host.os:
            missing.append(f"{platform} (a {platform.os} image cannot be built on {host.os})")
            continue
        emulator = emulator_for(platform, host=host)
        if emulator is None:
            continue
        if not mounted:
            missing.append(f"{platform} (binfmt_misc is not mounted at {binfmt_dir})")
        elif emulator not in entries:
            missing.append(f"{platform} (no {emulator} entry in {binfmt_dir})")
        elif not entries[emulator]:
            missing.append(f"{platform} ({emulator} is registered in {binfmt_dir} but disabled)")
    if missing:
        raise EmulationError(f"cannot build for {'; '.join(missing)}: this machine is {host}")


__all__ = ["BINFMT_DIR", "QEMU_NAMES", "EmulationError", "binfmt_entries", "check_emulation", "emulator_for"]
