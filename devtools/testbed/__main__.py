"""``python -m devtools.testbed serve``: a registry with the base images, for demos and benchmarks.

Prints the registry's address (``127.0.0.1:PORT``) on stdout, or a JSON description with
``--json``, then serves until interrupted (Ctrl-C or SIGTERM)::

    $ python -m devtools.testbed serve --json > testbed.json &
    $ skopeo inspect --tls-verify=false docker://$(jq -r .host testbed.json)/busybox:latest
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from devtools.testbed.images import BaseImages, push_base_images
from devtools.testbed.registry import FLAVOURS, RunningRegistry, start_registry


def describe(registry: RunningRegistry, images: BaseImages | None) -> dict[str, Any]:
    """What a script needs to use the registry (and its images), as JSON-ready data."""
    description: dict[str, Any] = {
        "flavour": registry.flavour,
        "host": registry.host,
        "url": registry.url,
        "storage_dir": str(registry.storage_dir),
        "log_file": str(registry.log_file),
        "ca_file": str(registry.ca_file) if registry.ca_file else None,
        "cert_dir": str(registry.cert_dir) if registry.cert_dir else None,
        "username": registry.username,
        "password": registry.password,
        "token_realm": registry.token_server.realm if registry.token_server else None,
    }
    if images is not None:
        description["images"] = {
            image.reference: {"digest": image.digest, "media_type": image.media_type}
            for image in images.all()
        }
        description["multi_manifests"] = dict(images.multi_manifests)
    return description


def serve(args: argparse.Namespace) -> int:
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="repro-testbed-"))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with start_registry(workdir / f"registry-{args.flavour}", args.flavour) as registry:
        images = None if args.no_images else push_base_images(registry, debian=not args.no_debian)
        if args.json:
            print(json.dumps(describe(registry, images), indent=2), flush=True)
        else:
            print(registry.host, flush=True)
            for image in images.all() if images else []:
                print(f"{image.pinned}", file=sys.stderr)
        print(f"serving {registry.url} (files in {workdir}); Ctrl-C to stop", file=sys.stderr, flush=True)
        stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.testbed", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="start a registry, push the base images, serve")
    serve_parser.add_argument("--flavour", choices=FLAVOURS, default="plain", help="default: plain http")
    serve_parser.add_argument("--no-images", action="store_true", help="do not push the base images")
    serve_parser.add_argument("--no-debian", action="store_true", help="push busybox and multi only")
    serve_parser.add_argument("--json", action="store_true", help="print a JSON description, not the host")
    serve_parser.add_argument("--dir", help="working directory (default: a new temporary directory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
