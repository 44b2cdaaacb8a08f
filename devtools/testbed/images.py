"""Base images for integration tests, built without the internet and pushed with skopeo.

- ``busybox:latest`` and ``busybox:1.36``: one deterministic gzip layer holding
  /bin/busybox (Debian's busybox-static) and applet symlinks; ``Cmd ["sh"]``.
- ``debian:bookworm``: an ``mmdebstrap --variant=minbase`` root file system as one
  layer, cached per machine (see :func:`cache_dir`) because it takes ~20 s to make.
- ``multi:latest``: an OCI image index with an amd64 and an arm64 manifest (same layer;
  only the config's architecture differs, so the foreign one need not run).

The digests :func:`push_base_images` reports are computed from the manifest bytes the
registry serves to skopeo, not by repro, so tests compare repro with an independent client.

    >>> images = push_base_images(registry)      # doctest: +SKIP
    >>> images.busybox.reference                 # doctest: +SKIP
    '127.0.0.1:40123/busybox:latest'
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import json
import os
import platform
import pwd
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from devtools.testbed.registry import RunningRegistry, TestbedError
from repro.process import run

# 2024-01-01T00:00:00Z: every time stamp in the images made here.
SOURCE_DATE_EPOCH = 1704067200
BUSYBOX_BINARY = Path("/bin/busybox")
BUSYBOX_APPLETS = (
    "[", "basename", "cat", "chmod", "cp", "cut", "date", "dirname", "echo", "env", "false",
    "find", "grep", "gunzip", "gzip", "head", "id", "ln", "ls", "mkdir", "mv", "printf",
    "pwd", "rm", "sed", "sh", "sha256sum", "sleep", "sort", "tail", "tar", "test", "touch",
    "tr", "true", "uname", "wc", "wget", "which", "xargs",
)  # fmt: skip
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MMDEBSTRAP_TIMEOUT = 900.0
CHUNK = 1 << 20

MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


# -- values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushedImage:
    """An image (or index) in the test registry, with the digest skopeo sees for it."""

    host: str  # "127.0.0.1:PORT"
    repository: str  # "busybox"
    tag: str  # "latest"
    digest: str  # "sha256:<hex>" of the manifest bytes the registry serves
    media_type: str  # OCI manifest or OCI index media type
    manifest: bytes  # those bytes
    layout: Path  # local OCI image layout it was pushed from; its ref name is ``tag``

    @property
    def reference(self) -> str:
        """``HOST/REPOSITORY:TAG``"""
        return f"{self.host}/{self.repository}:{self.tag}"

    @property
    def by_digest(self) -> str:
        """``HOST/REPOSITORY@sha256:…``"""
        return f"{self.host}/{self.repository}@{self.digest}"

    @property
    def pinned(self) -> str:
        """``HOST/REPOSITORY:TAG@sha256:…`` (what a pinned FROM line holds)."""
        return f"{self.reference}@{self.digest}"

    def manifest_json(self) -> Any:
        return json.loads(self.manifest)


@dataclass(frozen=True)
class BaseImages:
    """What :func:`push_base_images` pushed into one registry."""

    host: str
    busybox: PushedImage  # busybox:latest
    busybox_1_36: PushedImage  # busybox:1.36, the same manifest as busybox:latest
    debian: PushedImage | None  # debian:bookworm (None when pushed with debian=False)
    multi: PushedImage  # multi:latest, an OCI image index
    # Digest of each manifest in ``multi`` by platform "os/architecture[/variant]":
    # {"linux/amd64": …, "linux/arm64/v8": …}; the amd64 one equals ``busybox.digest``.
    multi_manifests: Mapping[str, str]
    debian_rootfs: Path | None  # the cached mmdebstrap tar behind debian:bookworm

    def all(self) -> list[PushedImage]:
        images = [self.busybox, self.busybox_1_36, self.multi]
        return images + ([self.debian] if self.debian is not None else [])


# -- OCI layout writing ---------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, data: Any, /) -> Any: ...


class _HashingWriter(io.RawIOBase):
    """Forwards writes to ``target`` while hashing and counting them (a write-only stream)."""

    def __init__(self, target: _Sink) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self.size += len(view)
        self.target.write(view)
        return len(view)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _host_architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}.get(
        machine, machine
    )


def _created() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(SOURCE_DATE_EPOCH))


class OciLayout:
    """A minimal writer of OCI image layouts (blobs/sha256, oci-layout, index.json)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.blobs = path / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.refs: list[dict[str, Any]] = []

    def add_bytes(self, media_type: str, data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        blob = self.blobs / digest
        if not blob.exists():
            blob.write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    @contextmanager
    def gzip_layer(self) -> Iterator[tuple[IO[bytes], dict[str, Any]]]:
        """Yield (uncompressed stream, result) and store the gzip blob when the block ends.

        After the block, ``result`` holds ``descriptor`` and ``diff_id``.
        """
        result: dict[str, Any] = {}
        fd, temp_name = tempfile.mkstemp(dir=self.blobs, prefix=".layer-")
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                compressed = _HashingWriter(out)
                # mtime=0 and no file name: the gzip header carries nothing that varies.
                with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6, mtime=0) as gz:
                    uncompressed = _HashingWriter(gz)
                    # Buffered: tarfile writes 512-byte blocks; closing flushes into the hashes.
                    with io.BufferedWriter(uncompressed, CHUNK) as buffered:
                        yield buffered, result
            digest = compressed.sha256.hexdigest()
            temp.replace(self.blobs / digest)
        finally:
            temp.unlink(missing_ok=True)
        result["descriptor"] = {
            "mediaType": MEDIA_TYPE_OCI_LAYER_GZIP,
            "digest": f"sha256:{digest}",
            "size": compressed.size,
        }
        result["diff_id"] = f"sha256:{uncompressed.sha256.hexdigest()}"

    def add_image(
        self,
        layer: dict[str, Any],
        diff_id: str,
        *,
        architecture: str,
        variant: str | None = None,
        config: Mapping[str, Any],
        created_by: str,
    ) -> dict[str, Any]:
        """Write config and manifest for a one-layer image; return the manifest descriptor."""
        image_config: dict[str, Any] = {
            "architecture": architecture,
            "os": "linux",
            "created": _created(),
            "config": dict(config),
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": _created(), "created_by": created_by}],
        }
        if variant is not None:
            image_config["variant"] = variant
        config_descriptor = self.add_bytes(MEDIA_TYPE_OCI_CONFIG, _canonical(image_config))
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_OCI_MANIFEST,
            "config": config_descriptor,
            "layers": [layer],
        }
        descriptor = self.add_bytes(MEDIA_TYPE_OCI_MANIFEST, _canonical(manifest))
        descriptor["platform"] = {"architecture": architecture, "os": "linux"}
        if variant is not None:
            descriptor["platform"]["variant"] = variant
        return descriptor

    def tag(self, descriptor: Mapping[str, Any], name: str) -> None:
        entry = {k: v for k, v in descriptor.items() if k != "platform"}
        entry["annotations"] = {REF_NAME: name}
        self.refs = [r for r in self.refs if r["annotations"][REF_NAME] != name] + [entry]
        index = {"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": self.refs}
        (self.path / "index.json").write_bytes(_canonical(index))


# -- busybox and multi ---------------------------------------------------------------------


def _tarinfo(name: str, kind: bytes, mode: int, *, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = SOURCE_DATE_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def write_busybox_tar(out: IO[bytes], busybox: Path = BUSYBOX_BINARY) -> None:
    """A deterministic root file system: /bin/busybox, applet links, /etc/passwd, /tmp."""
    files: dict[str, bytes] = {
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
    }
    directories = {"bin": 0o755, "etc": 0o755, "root": 0o700, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755}
    links = {f"bin/{applet}": "busybox" for applet in BUSYBOX_APPLETS}
    links["usr/bin/env"] = "/bin/busybox"
    entries: list[tuple[str, tarfile.TarInfo, bytes | None]] = []
    for name, mode in directories.items():
        entries.append((name, _tarinfo(name, tarfile.DIRTYPE, mode), None))
    for name, content in files.items():
        entries.append((name, _tarinfo(name, tarfile.REGTYPE, 0o644, size=len(content)), content))
    binary = busybox.read_bytes()
    entries.append(("bin/busybox", _tarinfo("bin/busybox", tarfile.REGTYPE, 0o755, size=len(binary)), binary))
    for name, target in links.items():
        entries.append((name, _tarinfo(name, tarfile.SYMTYPE, 0o777, linkname=target), None))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for _, info, data in sorted(entries, key=lambda entry: entry[0]):
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


BUSYBOX_CONFIG = {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}


def build_busybox_layouts(directory: Path) -> tuple[Path, Path]:
    """Make the busybox layout (refs "latest", "1.36") and the multi layout (ref "latest")."""
    busybox = OciLayout(directory / "busybox")
    with busybox.gzip_layer() as (stream, layer):
        write_busybox_tar(stream)
    architecture = _host_architecture()
    created_by = "busybox-static from Debian, repro test bed"
    native = busybox.add_image(
        layer["descriptor"],
        layer["diff_id"],
        architecture=architecture,
        config=BUSYBOX_CONFIG,
        created_by=created_by,
    )
    busybox.tag(native, "latest")
    busybox.tag(native, "1.36")

    multi = OciLayout(directory / "multi")
    for blob in busybox.blobs.iterdir():
        shutil.copyfile(blob, multi.blobs / blob.name)
    platforms = [("amd64", None), ("arm64", "v8")]
    if architecture not in ("amd64", "arm64"):
        platforms.append((architecture, None))
    descriptors = []
    for arch, variant in platforms:
        if arch == architecture:
            descriptors.append(native)
            continue
        descriptors.append(
            multi.add_image(
                layer["descriptor"],
                layer["diff_id"],
                architecture=arch,
                variant=variant,
                config=BUSYBOX_CONFIG,
                created_by=created_by,
            )
        )
    index = {"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": descriptors}
    multi.tag(multi.add_bytes(MEDIA_TYPE_OCI_INDEX, _canonical(index)), "latest")
    return busybox.path, multi.path


# -- Debian minbase --------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where the Debian root file system is cached across test sessions.

    ``$REPRO_TESTBED_CACHE`` if set (read at import, before tests isolate HOME), else
    /var/cache/repro-testbed for root, else ~/.cache/repro-testbed of the real user (from
    the password database, not $HOME, which tests point at a temporary directory).
    """
    if _CACHE_FROM_ENV:
        return Path(_CACHE_FROM_ENV)
    if os.geteuid() == 0:
        return Path("/var/cache/repro-testbed")
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "repro-testbed"


# Captured at import: tests/conftest.py removes REPRO_* variables from each test's environment.
_CACHE_FROM_ENV = os.environ.get("REPRO_TESTBED_CACHE")


def debian_mirror(suite: str = DEBIAN_SUITE) -> str:
    """The Debian mirror this machine's apt uses (deb822 ``URIs:`` or one-line ``deb``)."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in path.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith(("#", " ", "\t")) or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if (
                fields.get("enabled", "yes").lower() != "no"
                and "deb" in fields.get("types", "").split()
                and suite in fields.get("suites", "").split()
                and fields.get("uris")
            ):
                return fields["uris"].split()[0]
    one_line = [Path("/etc/apt/sources.list"), *(sorted(sources.glob("*.list")) if sources.is_dir() else [])]
    for path in one_line:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = [w for w in line.split("#", 1)[0].split() if not w.startswith("[")]
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                return words[1]
    return DEFAULT_MIRROR


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock, so parallel test workers build the cache once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class DebianBase:
    rootfs: Path  # mmdebstrap's tar
    layout: Path  # OCI layout with ref name = suite


def debian_base(
    suite: str = DEBIAN_SUITE, mirror: str | None = None, *, include: Sequence[str] = ()
) -> DebianBase:
    """The cached minbase root file system and its OCI layout, made on first use.

    ``include`` names Debian packages installed on top (``mmdebstrap --include``), for a
    toolchain base such as ``golang-go`` that would be too slow to install in every build.
    """
    mirror = mirror or debian_mirror(suite)
    architecture = _host_architecture()
    packages = ",".join(sorted(include))
    key = hashlib.sha256(f"{suite}\n{mirror}\n{SOURCE_DATE_EPOCH}\n{architecture}\nminbase".encode())
    if packages:
        key.update(f"\n{packages}".encode())
    entry = cache_dir() / f"debian-{suite}-{key.hexdigest()[:16]}"
    rootfs, layout, done = entry / "rootfs.tar", entry / "oci", entry / "complete"
    with _locked(entry.with_suffix(".lock")):
        if done.exists():
            return DebianBase(rootfs, layout)
        entry.mkdir(parents=True, exist_ok=True)
        if not rootfs.exists():
            env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)}
            # mmdebstrap picks the output format from the file name, hence the .tar suffix.
            partial_tar = entry / "rootfs.partial.tar"
            partial_tar.unlink(missing_ok=True)
            run(
                [
                    "mmdebstrap",
                    "--variant=minbase",
                    "--quiet",
                    *([f"--include={packages}"] if packages else []),
                    suite,
                    str(partial_tar),
                    f"deb {mirror} {suite} main",
                ],
                env=env,
                timeout=MMDEBSTRAP_TIMEOUT,
            )
            partial_tar.replace(rootfs)
        shutil.rmtree(layout, ignore_errors=True)
        oci = OciLayout(layout)
        with oci.gzip_layer() as (stream, layer), rootfs.open("rb") as source:
            shutil.copyfileobj(source, stream, CHUNK)
        descriptor = oci.add_image(
            layer["descriptor"],
            layer["diff_id"],
            architecture=architecture,
            config={
                "Cmd": ["bash"],
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            },
            created_by=(
                f"mmdebstrap --variant=minbase{f' --include={packages}' if packages else ''} {suite}"
                f" (SOURCE_DATE_EPOCH={SOURCE_DATE_EPOCH})"
            ),
        )
        oci.tag(descriptor, suite)
        done.write_text(json.dumps({"mirror": mirror, "suite": suite, "epoch": SOURCE_DATE_EPOCH}))
    return DebianBase(rootfs, layout)


# -- pushing ---------------------------------------------------------------------------------


def skopeo_copy(
    source: str, registry: RunningRegistry, destination: str, *, all_images: bool = False
) -> None:
    """``skopeo copy SOURCE docker://HOST/DESTINATION`` with the registry's TLS and credentials."""
    argv = ["skopeo", "--insecure-policy", "copy", "--quiet", "--preserve-digests"]
    if all_images:
        argv.append("--all")
    argv += [*registry.skopeo_args("dest"), source, f"docker://{registry.host}/{destination}"]
    run(argv, timeout=600)


def skopeo_raw_manifest(registry: RunningRegistry, reference: str) -> bytes:
    """The manifest bytes the registry serves for ``REPOSITORY:TAG`` or ``REPOSITORY@DIGEST``."""
    argv = ["skopeo", "--insecure-policy", "inspect", "--raw", *registry.skopeo_args()]
    return run([*argv, f"docker://{registry.host}/{reference}"], timeout=120).stdout


def _pushed(registry: RunningRegistry, repository: str, tag: str, layout: Path) -> PushedImage:
    manifest = skopeo_raw_manifest(registry, f"{repository}:{tag}")
    media_type = json.loads(manifest).get("mediaType", "")
    return PushedImage(
        host=registry.host,
        repository=repository,
        tag=tag,
        digest=f"sha256:{hashlib.sha256(manifest).hexdigest()}",
        media_type=media_type,
        manifest=manifest,
        layout=layout,
    )


def push_debian_toolchain(registry: RunningRegistry, repository: str, packages: Sequence[str]) -> PushedImage:
    """The Debian minbase with ``packages`` installed (cached like ``debian:bookworm``),
    pushed as ``REPOSITORY:bookworm``."""
    base = debian_base(include=packages)
    skopeo_copy(f"oci:{base.layout}:{DEBIAN_SUITE}", registry, f"{repository}:{DEBIAN_SUITE}")
    return _pushed(registry, repository, DEBIAN_SUITE, base.layout)


def push_base_images(
    registry: RunningRegistry, *, workdir: Path | None = None, debian: bool = True
) -> BaseImages:
    """Build (or reuse) the base images and push them with skopeo; report their digests.

    ``workdir`` holds the busybox layouts (default: ``registry.workdir / "images"``).
    """
    workdir = workdir if workdir is not None else registry.workdir / "images"
    if not (workdir / "busybox" / "index.json").exists():
        build_busybox_layouts(workdir)
    busybox_layout, multi_layout = workdir / "busybox", workdir / "multi"
    for tag in ("latest", "1.36"):
        skopeo_copy(f"oci:{busybox_layout}:{tag}", registry, f"busybox:{tag}")
    skopeo_copy(f"oci:{multi_layout}:latest", registry, "multi:latest", all_images=True)
    base = debian_base() if debian else None
    if base is not None:
        skopeo_copy(f"oci:{base.layout}:{DEBIAN_SUITE}", registry, f"debian:{DEBIAN_SUITE}")

    multi = _pushed(registry, "multi", "latest", multi_layout)
    platforms = {}
    for descriptor in multi.manifest_json()["manifests"]:
        p = descriptor["platform"]
        name = "/".join(filter(None, [p["os"], p["architecture"], p.get("variant")]))
        platforms[name] = descriptor["digest"]
    images = BaseImages(
        host=registry.host,
        busybox=_pushed(registry, "busybox", "latest", busybox_layout),
        busybox_1_36=_pushed(registry, "busybox", "1.36", busybox_layout),
        debian=_pushed(registry, "debian", DEBIAN_SUITE, base.layout) if base is not None else None,
        multi=multi,
        multi_manifests=platforms,
        debian_rootfs=base.rootfs if base is not None else None,
    )
    if images.busybox.digest != images.busybox_1_36.digest:
        raise TestbedError("busybox:latest and busybox:1.36 should share one manifest")
    return images
