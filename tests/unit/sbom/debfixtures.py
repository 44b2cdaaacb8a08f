"""A tiny Debian-like image, layer by layer, for the dpkg cataloger and the SBOM writer."""

from __future__ import annotations

from pathlib import Path

from repro.oci.layout import Image, ImageLayout
from tests.unit.layers.layerkit import Dir, File, Link, Member, make_image

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n'
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64

LIBC = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u8
Depends: libgcc-s1
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries.
"""
GCC = b"""Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14+b1
Depends: libc6 (>= 2.35)
"""
BASH = b"""Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)
"""
MAWK = b"""Package: mawk
Status: install ok installed
Architecture: amd64
Version: 1.3.4.20200120-3.1
Provides: awk
"""
BASE_FILES_OLD = b"""Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4
Depends: awk | gawk
"""
BASE_FILES_NEW = BASE_FILES_OLD.replace(b"12.4\n", b"12.4+deb12u1\n")
REMOVED = b"""Package: oldtool
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
"""
LESS = b"""Package: less
Status: install ok installed
Architecture: amd64
Version: 590-2
"""

DEP5 = b"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: glibc

Files: *
Copyright: 1991-2023 Free Software Foundation, Inc.
License: LGPL-2.1+
 This library is free software; you can redistribute it
 and/or modify it under the terms of the GNU Lesser General Public License.

Files: debian/*
Copyright: 2000 someone
License: GPL-2+ or Artistic

License: Artistic
 The Perl Artistic License.
"""
OLD_STYLE = b"""This is the Debian packaged version of bash.
Copyright (C) 1987-2022 Free Software Foundation, Inc.
On Debian systems, the complete text of the GNU General Public License version 3
can be found in `/usr/share/common-licenses/GPL-3'.
"""


def status(*stanzas: bytes) -> bytes:
    return b"\n".join(s.rstrip(b"\n") + b"\n" for s in stanzas)


def debian_image(directory: Path, *, compress: bool = True) -> tuple[ImageLayout, Image]:
    """Layer 0: base (libc6, libgcc-s1, bash, mawk, base-files 12.4); layer 1: less and a
    base-files upgrade; layer 2: less purged and an unowned binary in usr/local/bin."""
    base: list[Member] = [
        Dir("usr/lib"),
        File("usr/lib/os-release", OS_RELEASE),
        Link("etc/os-release", "../usr/lib/os-release"),
        Dir("usr/bin"),
        Link("bin", "usr/bin"),
        File("usr/bin/bash", ELF, 0o755),
        File("usr/lib/x86_64-linux-gnu/libc.so.6", ELF, 0o755),
        File("var/lib/dpkg/status", status(LIBC, GCC, BASH, MAWK, BASE_FILES_OLD, REMOVED)),
        File("var/lib/dpkg/info/libc6:amd64.list", b"/.\n/usr\n/usr/lib/x86_64-linux-gnu/libc.so.6\n"),
        File("var/lib/dpkg/info/bash.list", b"/.\n/bin\n/bin/bash\n"),
        File("var/lib/dpkg/info/mawk.md5sums", b"0123  usr/bin/mawk\n"),
        File("usr/share/doc/libc6/copyright", DEP5),
        File("usr/share/doc/bash/copyright", OLD_STYLE),
    ]
    install: list[Member] = [
        File("var/lib/dpkg/status", status(LIBC, GCC, BASH, MAWK, BASE_FILES_NEW, REMOVED, LESS)),
        File("var/lib/dpkg/info/less.list", b"/usr/bin/less\n"),
        File("usr/bin/less", ELF, 0o755),
    ]
    purge: list[Member] = [
        File("var/lib/dpkg/status", status(LIBC, GCC, BASH, MAWK, BASE_FILES_NEW, REMOVED)),
        File("var/lib/dpkg/info/.wh.less.list"),
        File("usr/bin/.wh.less"),
        Dir("usr/local/bin"),
        File("usr/local/bin/mystery", ELF + b"mystery", 0o755),
        File("usr/local/bin/script.sh", b"#!/bin/sh\necho hi\n", 0o755),
    ]
    return make_image(
        directory,
        [base, install, purge],
        compress=compress,
        history=[
            "mmdebstrap bookworm",
            "/bin/sh -c apt-get install -y less",
            "/bin/sh -c apt-get purge -y less && cp mystery /usr/local/bin/",
        ],
    )
