"""A busybox base image for linux/amd64 and linux/arm64 in which every platform runs.

The test bed's ``multi:latest`` shares one layer between its platforms (enough for pin and
resolve, which never run it). A multi-platform build RUNs commands in each platform, so
each image here holds its own architecture's busybox: this machine's ``/bin/busybox`` for
its own architecture, Debian's ``busybox-static`` of the other one otherwise. That package
is fetched once per machine with ``apt-get download`` into a private apt state directory
(the machine's dpkg architectures and package lists are left alone) and cached in
:func:`~devtools.testbed.images.cache_dir`.

    >>> pushed = push_multiarch_busybox(registry, workdir)   # doctest: +SKIP
    >>> pushed.image.reference, sorted(pushed.manifests)     # doctest: +SKIP
    ('127.0.0.1:40123/busybox-multi:latest', ['linux/amd64', 'linux/arm64'])
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devtools.testbed.images import (
    BUSYBOX_BINARY,
    BUSYBOX_CONFIG,
    DEBIAN_SUITE,
    MEDIA_TYPE_OCI_INDEX,
    OciLayout,
    PushedImage,
    _canonical,
    _host_architecture,
    _locked,
    _pushed,
    cache_dir,
    debian_mirror,
    skopeo_copy,
    write_busybox_tar,
)
from devtools.testbed.registry import RunningRegistry, TestbedError
from repro.process import run

ARCHITECTURES = ("amd64", "arm64")
REPOSITORY = "busybox-multi"
APT_TIMEOUT = 600.0


@dataclass(frozen=True)
class MultiarchBusybox:
    """``busybox-multi:latest`` as pushed: the index, and each platform's manifest digest."""

    image: PushedImage
    manifests: dict[str, str]  # "linux/arm64" -> "sha256:…"


def busybox_binary(architecture: str, *, suite: str = DEBIAN_SUITE) -> Path:
    """A static busybox for ``architecture``: this machine's, or Debian's, cached."""
    if architecture == _host_architecture():
        return BUSYBOX_BINARY
    mirror = debian_mirror(suite)
    key = hashlib.sha256(f"{suite}\n{mirror}\n{architecture}\nbusybox-static".encode()).hexdigest()[:16]
    entry = cache_dir() / f"busybox-static-{architecture}-{key}"
    binary = entry / "busybox"
    with _locked(entry.with_suffix(".lock")):
        if binary.is_file():
            return binary
        entry.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="busybox-static-") as tmp:
            work = Path(tmp)
            (work / "lists" / "partial").mkdir(parents=True)
            (work / "cache" / "archives" / "partial").mkdir(parents=True)
            (work / "sources.list").write_text(f"deb [arch={architecture}] {mirror} {suite} main\n")
            apt = [
                "apt-get",
                "-q",
                f"-oDir::State::Lists={work / 'lists'}",
                f"-oDir::Cache={work / 'cache'}",
                f"-oDir::Etc::SourceList={work / 'sources.list'}",
                "-oDir::Etc::SourceParts=/nonexistent",
                f"-oAPT::Architecture={architecture}",
                f"-oAPT::Architectures::={architecture}",
                "-oAcquire::Languages=none",
                "-oAPT::Sandbox::User=root",
            ]
            run([*apt, "update"], timeout=APT_TIMEOUT)
            run([*apt, "download", f"busybox-static:{architecture}"], cwd=work, timeout=APT_TIMEOUT)
            debs = sorted(work.glob("busybox-static_*.deb"))
            if len(debs) != 1:
                raise TestbedError(f"apt-get download busybox-static:{architecture} gave {debs}")
            run(["dpkg-deb", "-x", str(debs[0]), str(work / "root")], timeout=120)
            partial = entry / "busybox.partial"
            shutil.copyfile(work / "root" / "bin" / "busybox", partial)
            partial.chmod(0o755)
            partial.replace(binary)
    return binary


def build_multiarch_layout(directory: Path) -> Path:
    """The layout ``directory/busybox-multi`` (ref "latest"): an index of one busybox image
    per architecture in :data:`ARCHITECTURES`, each layer holding that architecture's busybox."""
    layout = OciLayout(directory / REPOSITORY)
    descriptors = []
    for architecture in ARCHITECTURES:
        with layout.gzip_layer() as (stream, layer):
            write_busybox_tar(stream, busybox_binary(architecture))
        descriptors.append(
            layout.add_image(
                layer["descriptor"],
                layer["diff_id"],
                architecture=architecture,
                config=BUSYBOX_CONFIG,
                created_by=f"busybox-static for {architecture} from Debian, repro test bed",
            )
        )
    index = {"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": descriptors}
    layout.tag(layout.add_bytes(MEDIA_TYPE_OCI_INDEX, _canonical(index)), "latest")
    return layout.path


def push_multiarch_busybox(registry: RunningRegistry, workdir: Path) -> MultiarchBusybox:
    """Build (or reuse) the layout in ``workdir`` and push it as ``busybox-multi:latest``."""
    path = workdir / REPOSITORY
    if not (path / "index.json").exists():
        build_multiarch_layout(workdir)
    skopeo_copy(f"oci:{path}:latest", registry, f"{REPOSITORY}:latest", all_images=True)
    image = _pushed(registry, REPOSITORY, "latest", path)
    manifests = {}
    for descriptor in json.loads(image.manifest)["manifests"]:
        manifests[f"{descriptor['platform']['os']}/{descriptor['platform']['architecture']}"] = descriptor[
            "digest"
        ]
    return MultiarchBusybox(image=image, manifests=manifests)


__all__ = ["ARCHITECTURES", "MultiarchBusybox", "busybox_binary", "push_multiarch_busybox"]
