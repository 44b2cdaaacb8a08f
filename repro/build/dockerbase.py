"""The Docker engine and the registries repro's configuration names.

A Docker daemon pulls base images itself, with its own settings: registry mirrors only
for Docker Hub, its own list of insecure registries. repro's configuration may name
mirrors for any registry (:mod:`repro.registry.mirrors`), and buildah follows them. For
the Docker engine repro does the routing itself:

- :func:`route_images`, before the build: every pinned image of the Dockerfile whose
  registry has mirrors is rewritten, in the engine's copy of the Dockerfile only, to the
  first source (each mirror in order, then the origin) that holds exactly the pinned
  digest, as repro's registry client checks it. The daemon then pulls by that digest and
  verifies it. An image that is not pinned cannot be routed and is refused.
- :func:`check_base`, after the build: the built stage's base, fetched through repro's
  own settings (digest-verified), must be what the saved image starts with, layer for
  layer (``rootfs.diff_ids``). Whatever the daemon pulled from — a mirror of its own, an
  image store someone tagged into — content other than the pinned image is refused
  before anything is normalised.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from repro.build.engine import RegistrySettings
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.dockerfile import build_stage_graph, parse
from repro.errors import BuildError, RegistryError, UsageError
from repro.oci.layout import ImageLayout
from repro.oci.models import Index, Manifest
from repro.pin.rewrite import Edit, apply_edits
from repro.platform import Platform
from repro.reference import ImageRef, parse_reference
from repro.registry import RegistryClient
from repro.registry.mirrors import Endpoint, endpoints

#: The largest image config read from a registry.
MAX_CONFIG = 16 << 20


def registry_config(registries: Sequence[RegistrySettings]) -> Config:
    """repro's registry settings, as the build request carries them, for a registry client."""
    return Config(
        registries={
            s.host: RegistryConfig(mirrors=s.mirrors, insecure=s.insecure, ca_file=s.ca_file)
            for s in registries
        }
    )


def _without_mirrors(config: Config) -> Config:
    return Config(
        registries={
            host: RegistryConfig(insecure=r.insecure, ca_file=r.ca_file)
            for host, r in config.registries.items()
        },
        timeout=config.timeout,
    )


def route_images(
    dockerfile: bytes,
    *,
    filename: str,
    build_args: Mapping[str, str],
    config: Config,
    client: RegistryClient | None = None,
) -> tuple[bytes, dict[str, str]]:
    """``dockerfile`` with each pinned image whose registry has mirrors in ``config``
    rewritten to the first source holding its digest, and what was rewritten (old -> new).

    Raises :class:`~repro.errors.UsageError` for an image that has mirrors but no digest
    (or comes from a variable), and :class:`~repro.errors.BuildError` when no source
    holds the pinned digest.
    """
    parsed = parse(dockerfile, filename=filename)
    graph = build_stage_graph(parsed, build_args)
    # The engine's copy declares repro's variables on a line after every FROM
    # (repro.build.runenv): the user's line numbers are those less the lines added above.
    froms = [ins.start_line for ins in parsed.instructions if ins.keyword.upper() == "FROM"]
    probe = RegistryClient(_without_mirrors(config)) if client is None else client
    edits: list[Edit] = []
    routed: dict[str, str] = {}
    try:
        for use in graph.external_images():
            if use.expanded is None:
                continue
            ref = parse_reference(use.expanded)
            candidates = endpoints(config, ref.domain, ref.path)
            if len(candidates) == 1:
                continue  # no mirrors: the daemon pulls from the registry itself
            where = f"line {use.line - sum(1 for line in froms if line < use.line)} of the Dockerfile"
            if ref.digest is None or use.text != use.expanded:
                raise UsageError(
                    f"{use.text} ({where}) comes from a registry with mirrors configured, and the docker "
                    "engine routes only images pinned by digest, written out, through repro's mirrors",
                    hint="pin it (repro pin), or build with --engine buildah",
                )
            source = _source_with(ref, ref.digest, candidates, probe, where)
            new = f"{source.domain}/{source.path}@{ref.digest}"
            routed[use.text] = new
            edits.append(Edit(use.span.start, use.span.end, use.text.encode(), new.encode()))
    finally:
        if client is None:
            probe.close()
    return apply_edits(dockerfile, edits), routed


def _source_with(
    ref: ImageRef, digest: Digest, candidates: Sequence[Endpoint], probe: RegistryClient, where: str
) -> Endpoint:
    tried = []
    for endpoint in candidates:
        try:
            found = probe.resolve(parse_reference(f"{endpoint.domain}/{endpoint.path}@{digest}"))
        except RegistryError as exc:
            tried.append(f"{endpoint.source}: {exc}")
            continue
        if found.digest == digest:
            return endpoint
        tried.append(f"{endpoint.source}: has {found.digest}")
    raise BuildError(
        f"{ref.text} ({where}): no source holds {ref.name}@{digest} ({'; '.join(tried)})",
        hint="push the pinned image to the mirror, or fix the mirror settings",
    )


def check_base(
    layout: Path, tag: str, base: str | None, *, config: Config, client: RegistryClient | None = None
) -> None:
    """Refuse the image ``tag`` of ``layout`` unless its first layers are exactly those of
    ``base`` (``NAME@DIGEST``, or a tag for an unpinned build), fetched through ``config``
    (mirrors included, every document digest-verified). Nothing to check FROM scratch."""
    if base is None:
        return
    opened = ImageLayout.open(layout)
    built = opened.image(descriptor=opened.find(tag)).config
    built_ids = [str(d) for d in built.get("rootfs", {}).get("diff_ids", [])]
    owned = client is None
    client = RegistryClient(config) if client is None else client
    try:
        expected = _base_diff_ids(client, parse_reference(base), built)
    except RegistryError as exc:
        raise BuildError(
            f"cannot check what the Docker daemon built on: the base {base} could not be read: {exc}",
            hint=exc.hint,
        ) from exc
    finally:
        if owned:
            client.close()
    if built_ids[: len(expected)] != expected:
        index = next(
            (i for i, (a, b) in enumerate(zip(built_ids, expected, strict=False)) if a != b),
            min(len(built_ids), len(expected)),
        )
        got = built_ids[index] if index < len(built_ids) else "nothing"
        raise BuildError(
            f"the Docker daemon built on other content than the pinned base {base}: layer {index} "
            f"is {got}, the pinned image's is {expected[index]}",
            hint="the daemon pulled from somewhere else (a registry mirror of its own, a tampered image "
            "store); check its registry-mirrors, or build with --engine buildah",
        )


def _base_diff_ids(client: RegistryClient, ref: ImageRef, built: Mapping[str, Any]) -> list[str]:
    document = client.get_manifest(ref)
    if isinstance(document, Index):
        try:
            wanted = Platform.from_oci(built)
        except UsageError as exc:
            raise BuildError(f"the built image names no platform: {exc}") from exc
        chosen = next(
            (d for d in document.manifests if d.platform is not None and d.platform.matches(wanted)), None
        )
        if chosen is None:
            raise BuildError(f"the base {ref.text} has no image for {wanted}")
        document = client.get_manifest(parse_reference(f"{ref.name}@{chosen.digest}"))
    if not isinstance(document, Manifest):
        raise BuildError(f"the base {ref.text} is not an image")
    buffer = io.BytesIO()
    client.fetch_blob(ref.domain, ref.path, document.config.digest, buffer, size=document.config.size)
    try:
        config = json.loads(buffer.getvalue())
        return [str(d) for d in config["rootfs"]["diff_ids"]]
    except (ValueError, LookupError, TypeError) as exc:
        raise BuildError(f"the base {ref.text} has no readable config: {exc}") from exc
