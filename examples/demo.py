"""``make demo``: repro end to end against a local registry, on a machine with no internet.

1. Starts the Distribution registry on loopback (its storage under ``build/demo`` is kept,
   so a second run reuses it), bootstraps a Debian bookworm base with mmdebstrap (cached)
   and pushes it, as Docker Hub's ``debian:bookworm``, into a ``hub/`` namespace that
   repro is configured to use as a mirror of docker.io.
2. On a copy of ``examples/hello`` (whose Dockerfile says ``FROM debian:bookworm``): shows
   ``repro pin --check`` failing, ``repro pin`` rewriting only the image token, and the
   check passing, offline and against the registry.
3. Releases the pinned app with ``repro release`` (pin check, two builds that must agree,
   SBOM, policy gate, signed attestations, push by digest, the consumer's check, then the
   tag) into the local registry, signed with a key from ``repro keygen``, and checks it
   with ``repro verify-image`` as a consumer would.
4. Simulates the scheduled base-image refresh: the tag moves to a new image (one Debian
   package upgraded), ``repro refresh`` bumps the pin and prints the pull-request summary,
   and the next release's summary lists the packages that changed since the last one.

buildah pulls the base through the same mirror: repro writes the ``docker.io`` mirror of
``repro.toml`` into the registries.conf it gives buildah.

Every command shown is run for real; the demo stops at the first unexpected exit code.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from devtools.testbed.images import push_base_images, skopeo_copy
from devtools.testbed.registry import RunningRegistry, start_plain_registry
from repro.oci import media
from repro.oci.layout import ImageLayout

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "demo"
MIRROR_NAMESPACE = "hub"
#: The passphrase of the demo's signing key (a real one comes from a secret store).
KEY_PASSWORD = "demo passphrase, not a secret"  # noqa: S105
#: The Debian package the simulated base-image refresh upgrades.
REFRESHED_PACKAGE = "base-files"


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"\n==> {text}", flush=True)


def repro(app: Path, *args: str, expect: int = 0) -> str:
    """Run ``repro ARGS`` in ``app`` as a user would, echo it and its output."""
    print(f"$ repro {shlex.join(args)}", flush=True)
    completed = subprocess.run(
        [sys.executable, "-m", "repro", *args], cwd=app, capture_output=True, text=True, check=False
    )
    sys.stdout.write(completed.stdout)
    sys.stdout.write(completed.stderr)
    if completed.returncode != expect:
        raise SystemExit(f"demo: 'repro {shlex.join(args)}' exited {completed.returncode}, expected {expect}")
    print(f"(exit {completed.returncode})", flush=True)
    return completed.stdout


def prepare_app(registry: RunningRegistry) -> Path:
    app = WORK / "hello"
    shutil.rmtree(app, ignore_errors=True)
    shutil.copytree(ROOT / "examples" / "hello", app)
    (app / "repro.toml").write_text(
        "# Docker Hub is not reachable here: a local registry stands in as its mirror.\n"
        f'[registries."docker.io"]\nmirrors = ["{registry.host}/{MIRROR_NAMESPACE}"]\n\n'
        f'[registries."{registry.host}"]\ninsecure = true\n'
    )
    return app


def upgraded_status(rootfs: Path) -> bytes:
    """The base's dpkg status with :data:`REFRESHED_PACKAGE` one (fake) point release newer."""
    with tarfile.open(rootfs) as tar:
        member = next(m for m in tar.getmembers() if m.name.lstrip("./") == "var/lib/dpkg/status")
        handle = tar.extractfile(member)
        if handle is None:
            raise SystemExit("demo: the base image has no dpkg status file")
        status = handle.read().decode()
    stanza = re.compile(rf"(Package: {REFRESHED_PACKAGE}\n(?:[^\n]+\n)*?Version: )([^\n]+)")
    status, count = stanza.subn(lambda m: f"{m.group(1)}{m.group(2)}+refresh1", status, count=1)
    if count != 1:
        raise SystemExit(f"demo: {REFRESHED_PACKAGE} is not in the base image")
    return status.encode()


def move_base_tag(registry: RunningRegistry, source_layout: Path, rootfs: Path) -> None:
    """Push a new image under ``debian:bookworm``: the base with one more layer, in which
    one package is upgraded (as a point release of the distribution would)."""
    work = WORK / "refreshed-base"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source_layout, work)
    layout = ImageLayout.open(work)
    image = layout.image("bookworm")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, payload in (
            ("etc/base-refresh", b"refreshed\n"),
            ("var/lib/dpkg/status", upgraded_status(rootfs)),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(payload), 0, 0o644
            tar.addfile(info, io.BytesIO(payload))
    layer = layout.write_blob(buffer.getvalue(), media.OCI_LAYER_TAR)
    config = dict(image.config)
    config["rootfs"] = {"type": "layers", "diff_ids": [*config["rootfs"]["diff_ids"], str(layer.digest)]}
    config["history"] = [*config.get("history", []), {"created_by": "demo: base image refresh"}]
    config_desc = layout.write_blob(json.dumps(config, sort_keys=True).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [*(d.to_json() for d in image.manifest.layers), layer.to_json()],
    }
    layout.set_tag("bookworm", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    skopeo_copy(f"oci:{work}:bookworm", registry, f"{MIRROR_NAMESPACE}/library/debian:bookworm")


def show_diff(before: str, after: str, name: str) -> None:
    diff = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
    )
    sys.stdout.writelines(diff)


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    say("starting a local registry and pushing the base images (Debian minbase via mmdebstrap, cached)")
    with start_plain_registry(WORK / "registry") as registry:
        images = push_base_images(registry, workdir=WORK / "images")
        if images.debian is None:
            raise SystemExit("demo: the Debian base image was not built")
        skopeo_copy(
            f"oci:{images.debian.layout}:bookworm",
            registry,
            f"{MIRROR_NAMESPACE}/library/debian:bookworm",
        )
        print(f"registry at {registry.url}; docker.io is mirrored at {registry.host}/{MIRROR_NAMESPACE}")

        app = prepare_app(registry)
        dockerfile = app / "Dockerfile"
        original = dockerfile.read_text()

        say("what does debian:bookworm point at?")
        repro(app, "resolve", "debian:bookworm")

        say("CI gate before pinning: the base is named by tag only")
        repro(app, "pin", "--check", expect=1)

        say("pin it: only the image token changes")
        repro(app, "pin")
        pinned = dockerfile.read_text()
        show_diff(original, pinned, "Dockerfile")
        repro(app, "pin", "--check")
        repro(app, "pin", "--check", "--fresh")

        say("release 0.1.0: pin check, two builds, SBOM, policy, sign, push, verify, tag")
        os.environ["REPRO_KEY_PASSWORD"] = KEY_PASSWORD
        repro(app, "keygen", "signing")
        release = f"{registry.host}/hello:0.1.0"
        repro(app, "release", ".", "--image", release, "--key", "signing.key", "--push", release)

        say("what a consumer runs: verify the signed attestations of the published image")
        repro(
            app, "verify-image", release, "--key", "signing.pub", "--require", "provenance,sbom,reproducible"
        )

        say("scheduled refresh: the base image tag moves")
        if images.debian_rootfs is None:
            raise SystemExit("demo: the Debian root file system is not cached")
        move_base_tag(registry, images.debian.layout, images.debian_rootfs)
        repro(app, "pin", "--check", "--fresh", expect=2)
        repro(app, "refresh", "--exit-code", expect=10)
        show_diff(pinned, dockerfile.read_text(), "Dockerfile")
        repro(app, "pin", "--check", "--fresh")

        say("release 0.1.1 on the new base: the summary says which packages changed")
        update = f"{registry.host}/hello:0.1.1"
        repro(
            app, "release", ".", "--image", update, "--key", "signing.key", "--push", update,
            "--previous-sbom", release,
        )  # fmt: skip
        say("the same question asked directly: repro sbom diff")
        repro(app, "sbom", "diff", release, update)

    say(f"done; the working files are in {WORK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
