"""repro.images.push against a real Distribution registry: images, indexes, failures, referrers, layouts.

skopeo and oras-py are the independent clients that read back what repro pushed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.testbed import BaseImages, RunningRegistry
from devtools.testbed.images import skopeo_raw_manifest
from devtools.testbed.proxy import FaultProxy, Hook, SeenRequest
from repro.cli import main
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.errors import RegistryError
from repro.images.push import (
    CREATED,
    CYCLONEDX_JSON,
    Artifact,
    PushResult,
    plan_image,
    push_image,
    push_referrers,
    sbom_referrer,
    target_tag,
)
from repro.images.store import LayoutStore, RegistryStore
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import Descriptor, Index, Manifest, parse_manifest
from repro.reference import ImageRef, parse_reference
from repro.registry import RegistryClient, RetryPolicy
from tests.conftest import repo_root

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _push(layout: ImageLayout, tag: str, target: ImageRef, **options: Any) -> PushResult:
    """Push to a registry reference as ``repro push`` does: its tag, or by digest only."""
    client = options.pop("client")
    store = RegistryStore(client, target)
    return push_image(layout, tag, store, tag=target_tag(target), expect=target.digest, **options)


THREAD_ROUNDS = 12
PROCESS_ROUNDS = 4


def _client(host: str, policy: RetryPolicy | None = None) -> RegistryClient:
    return RegistryClient(
        Config(registries={host: RegistryConfig(insecure=True)}, timeout=10.0), policy=policy
    )


@pytest.fixture
def client(registry: RunningRegistry) -> Iterator[RegistryClient]:
    with _client(registry.host) as c:
        yield c


def _repo(name: str) -> str:
    return f"push/{name}-{uuid.uuid4().hex[:8]}"


def _debian(base_images: BaseImages) -> ImageLayout:
    assert base_images.debian is not None
    return ImageLayout.open(base_images.debian.layout)


def _no_dangling_manifests(registry: RunningRegistry) -> int:
    """Check that every tagged manifest in the registry has all its content; return how many."""
    checked = 0
    catalog = requests.get(f"{registry.url}/v2/_catalog?n=1000", timeout=10)
    assert catalog.status_code == 200, catalog.text
    for repository in catalog.json().get("repositories") or []:
        listing = requests.get(f"{registry.url}/v2/{repository}/tags/list", timeout=10)
        assert listing.status_code in (200, 404), listing.text
        tags = (listing.json().get("tags") or []) if listing.status_code == 200 else []
        for tag in tags:
            response = requests.get(
                f"{registry.url}/v2/{repository}/manifests/{tag}",
                headers={"Accept": media.MANIFEST_ACCEPT},
                timeout=10,
            )
            assert response.status_code == 200, (repository, tag)
            document = parse_manifest(response.content, response.headers.get("Content-Type"))
            if isinstance(document, Manifest):
                kinds = [("blobs", d.digest) for d in (document.config, *document.layers)]
            else:
                kinds = [("manifests", d.digest) for d in document.manifests]
            for kind, digest in kinds:
                head = requests.head(
                    f"{registry.url}/v2/{repository}/{kind}/{digest}",
                    headers={"Accept": media.MANIFEST_ACCEPT},
                    timeout=10,
                )
                assert head.status_code == 200, f"{repository}:{tag} names missing {kind} {digest}"
            checked += 1
    return checked


# -- images ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_push_debian_then_push_again(
    registry: RunningRegistry, base_images: BaseImages, tmp_path: Path
) -> None:
    layout = _debian(base_images)
    assert base_images.debian is not None
    path = _repo("debian")
    with FaultProxy(registry.url) as proxy, _client(proxy.host) as client:
        target = parse_reference(f"{proxy.host}/{path}:bookworm")
        result = _push(layout, "bookworm", target, client=client)

        # The registry serves exactly the manifest the layout holds, to an independent client.
        raw = skopeo_raw_manifest(registry, f"{path}:bookworm")
        assert Digest.of(raw) == result.digest == Digest.parse(base_images.debian.digest)
        assert raw == layout.read_blob(result.digest)
        assert result.blobs_pushed == 2
        assert result.bytes_pushed > 50_000_000
        # The tag is the very last write.
        writes = [r for r in proxy.requests if r.method in ("POST", "PATCH", "PUT")]
        assert (writes[-1].method, writes[-1].path) == ("PUT", f"/v2/{path}/manifests/bookworm")
        assert all(r.method != "PUT" or "/manifests/" not in r.path for r in writes[:-1])

        # Every blob comes back and verifies against its digest.
        for blob in plan_image(layout, layout.find("bookworm")).blobs:
            size = client.fetch_blob(
                proxy.host, path, blob.digest, tmp_path / blob.digest.hex, size=blob.size
            )
            assert size == blob.size

        # Pushing again sends no blob: one HEAD each, then the tag.
        before = len(proxy.requests)
        again = _push(layout, "bookworm", target, client=client)
        assert again.digest == result.digest
        assert again.blobs_pushed == 0
        assert again.blobs_reused == 2
        assert again.bytes_pushed == 0
        repeat = proxy.requests[before:]
        assert not [r for r in repeat if r.method in ("POST", "PATCH")]
        assert [r.method for r in repeat if r.method == "PUT"] == ["PUT"]


def test_push_multi_platform_index(
    client: RegistryClient, registry: RunningRegistry, base_images: BaseImages
) -> None:
    layout = ImageLayout.open(base_images.multi.layout)
    path = _repo("multi")
    result = _push(layout, "latest", parse_reference(f"{registry.host}/{path}:v1"), client=client)
    assert result.media_type == media.OCI_INDEX
    assert str(result.digest) == base_images.multi.digest
    raw = skopeo_raw_manifest(registry, f"{path}:v1")
    assert Digest.of(raw) == result.digest
    index = parse_manifest(raw)
    assert isinstance(index, Index)
    assert {str(d.digest) for d in index.manifests} == set(base_images.multi_manifests.values())
    for entry in index.manifests:
        child = client.get_manifest(parse_reference(f"{registry.host}/{path}@{entry.digest}"))
        assert isinstance(child, Manifest)
        for blob in (child.config, *child.layers):
            assert client.blob_exists(registry.host, path, blob.digest)
        assert Digest.of(skopeo_raw_manifest(registry, f"{path}@{entry.digest}")) == entry.digest
    assert result.manifests[-1] == result.digest
    assert len(result.manifests) == len(index.manifests) + 1


def test_push_by_digest_and_cross_repository_mount(
    client: RegistryClient, registry: RunningRegistry, base_images: BaseImages
) -> None:
    layout = ImageLayout.open(base_images.busybox.layout)
    digest = Digest.parse(base_images.busybox.digest)
    path = _repo("by-digest")
    result = _push(
        layout,
        "latest",
        parse_reference(f"{registry.host}/{path}@{digest}"),
        client=client,
        mount_from="busybox",
    )
    assert result.tag is None
    assert result.pinned == f"{registry.host}/{path}@{digest}"
    assert {b.outcome for b in result.blobs} == {"mounted"}
    assert skopeo_raw_manifest(registry, f"{path}@{digest}") == base_images.busybox.manifest
    tags = requests.get(f"{registry.url}/v2/{path}/tags/list", timeout=10).json().get("tags")
    assert not tags


def test_registry_killed_mid_push_leaves_no_tag(
    fresh_registry: RunningRegistry, base_images: BaseImages
) -> None:
    layout = _debian(base_images)
    path = "push/killed"
    killed: list[SeenRequest] = []

    def kill(seen: SeenRequest) -> None:
        killed.append(seen)
        fresh_registry.kill()

    with FaultProxy(fresh_registry.url) as proxy:
        # The large layer streams in one PATCH: the registry dies as it arrives.
        proxy.add(Hook(kill), path=r"/blobs/uploads/", methods=("PATCH",), skip=0, times=1)
        target = parse_reference(f"{proxy.host}/{path}:v1")
        with _client(proxy.host, RetryPolicy(attempts=2, total=2.0)) as client, pytest.raises(RegistryError):
            _push(layout, "bookworm", target, client=client)
        assert killed, "the registry was killed during a blob upload"
        assert not fresh_registry.is_running()

        fresh_registry.restart()
        manifest_url = f"{fresh_registry.url}/v2/{path}/manifests"
        accept = {"Accept": media.MANIFEST_ACCEPT}
        assert requests.get(f"{manifest_url}/v1", headers=accept, timeout=10).status_code == 404
        digest = layout.find("bookworm").digest
        assert requests.head(f"{manifest_url}/{digest}", headers=accept, timeout=10).status_code == 404
        assert _no_dangling_manifests(fresh_registry) == 0

        with _client(proxy.host) as client:
            result = _push(layout, "bookworm", target, client=client)
        assert result.digest == digest
        assert "uploaded" in {b.outcome for b in result.blobs}
    assert _no_dangling_manifests(fresh_registry) == 1
    assert Digest.of(skopeo_raw_manifest(fresh_registry, f"{path}:v1")) == digest


# -- referrers ------------------------------------------------------------------------------


def _subject(
    client: RegistryClient, registry: RunningRegistry, base_images: BaseImages, path: str
) -> Descriptor:
    layout = ImageLayout.open(base_images.busybox.layout)
    result = _push(layout, "latest", parse_reference(f"{registry.host}/{path}:v1"), client=client)
    return Descriptor(result.media_type, result.digest, result.size)


def _sbom(n: int, who: str) -> bytes:
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "serialNumber": f"{who}-{n}"}).encode()


def test_referrers_pushed_concurrently_from_threads_all_survive(
    registry: RunningRegistry, base_images: BaseImages
) -> None:
    path = _repo("ref-threads")
    with _client(registry.host) as setup:
        _subject(setup, registry, base_images, path)
    for round_ in range(THREAD_ROUNDS):
        # A new subject each round: its fallback index starts empty, the racy case.
        subject = Descriptor(media.OCI_MANIFEST, Digest.of(f"subject {round_} {path}".encode()), 100)
        artifacts = [sbom_referrer(_sbom(round_, who), subject, created=WHEN) for who in ("a", "b")]
        _push_at_once(registry.host, path, subject.digest, artifacts)
        with _client(registry.host) as client:
            listed = client.referrers(registry.host, path, subject.digest)
        assert {d.digest for d in listed} == {a.digest for a in artifacts}, f"round {round_}"
        assert {d.artifact_type for d in listed} == {CYCLONEDX_JSON}
        assert {d.annotations[CREATED] for d in listed} == {"2024-01-01T00:00:00Z"}


def _push_at_once(host: str, path: str, subject: Digest, artifacts: list[Artifact]) -> None:
    """Push each artifact from a thread of its own, with a client of its own, all at once."""
    barrier = threading.Barrier(len(artifacts))
    errors: list[BaseException] = []

    def push(artifact: Artifact) -> None:
        try:
            with _client(host) as client:  # a client each: no lock shared in the process
                barrier.wait()
                push_referrers(RegistryStore(client, parse_reference(f"{host}/{path}")), subject, [artifact])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(artifact,)) for artifact in artifacts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


CHILD = """
import sys, time
from datetime import UTC, datetime
from repro.digest import Digest
from repro.oci import media
from repro.oci.models import Descriptor
from repro.images.push import push_referrers, sbom_referrer
from repro.images.store import RegistryStore
from repro.reference import parse_reference
from tests.integration.test_push_image import WHEN, _client, _sbom

host, path, subject_hex, round_, who, at = sys.argv[1:]
subject = Descriptor(media.OCI_MANIFEST, Digest("sha256", subject_hex), 100)
artifact = sbom_referrer(_sbom(int(round_), who), subject, created=WHEN)
with _client(host) as client:
    time.sleep(max(0.0, float(at) - time.time()))
    push_referrers(RegistryStore(client, parse_reference(f"{host}/{path}")), subject.digest, [artifact])
print(artifact.digest)
"""


@pytest.mark.slow
def test_referrers_pushed_concurrently_from_processes_all_survive(
    registry: RunningRegistry, base_images: BaseImages
) -> None:
    path = _repo("ref-procs")
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    for round_ in range(PROCESS_ROUNDS):
        subject = Digest.of(f"subject {round_} {path}".encode())
        at = time.time() + 2.0  # both start together, after their imports
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, registry.host, path, subject.hex, str(round_), who, str(at)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=repo_root(),
            )
            for who in ("a", "b")
        ]
        pushed = set()
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err.decode()[-2000:]
            pushed.add(Digest.parse(out.decode().strip()))
        assert len(pushed) == 2
        with _client(registry.host) as client:
            listed = client.referrers(registry.host, path, subject)
        assert {d.digest for d in listed} == pushed, f"round {round_}"


def test_referrer_round_trip_with_oras(
    client: RegistryClient, registry: RunningRegistry, base_images: BaseImages, tmp_path: Path
) -> None:
    from oras.client import OrasClient

    path = _repo("ref-oras")
    subject = _subject(client, registry, base_images, path)
    sbom = _sbom(0, "oras")
    artifact = sbom_referrer(sbom, subject, created=WHEN + timedelta(hours=1))
    (digest,) = push_referrers(
        RegistryStore(client, parse_reference(f"{registry.host}/{path}")), subject.digest, [artifact]
    )
    assert digest == artifact.digest
    (listed,) = client.referrers(registry.host, path, subject.digest, artifact_type=CYCLONEDX_JSON)
    assert listed.digest == digest
    assert dict(listed.annotations) == {CREATED: "2024-01-01T01:00:00Z"}

    oras = OrasClient(hostname=registry.host, insecure=True)
    manifest = oras.get_manifest(f"{registry.host}/{path}@{digest}")
    assert manifest["artifactType"] == CYCLONEDX_JSON
    assert manifest["subject"]["digest"] == str(subject.digest)
    files = oras.pull(target=f"{registry.host}/{path}@{digest}", outdir=str(tmp_path))
    assert [Path(f).name for f in files] == ["sbom.cdx.json"]
    assert Path(files[0]).read_bytes() == sbom


def test_referrers_go_before_the_tag(
    registry: RunningRegistry, base_images: BaseImages, tmp_path: Path
) -> None:
    layout = ImageLayout.open(base_images.busybox.layout)
    subject = layout.find("latest")
    artifact = sbom_referrer(_sbom(0, "tag-last"), subject, created=WHEN)
    path = _repo("ref-tag-last")
    with FaultProxy(registry.url) as proxy, _client(proxy.host) as client:
        result = _push(
            layout, "latest", parse_reference(f"{proxy.host}/{path}:v1"), client=client, referrers=[artifact]
        )
        puts = [r.path for r in proxy.requests if r.method == "PUT" and "/manifests/" in r.path]
    assert result.referrers == (artifact.digest,)
    assert puts[0] == f"/v2/{path}/manifests/{subject.digest}"
    assert f"/v2/{path}/manifests/{artifact.digest}" in puts
    assert puts[-1] == f"/v2/{path}/manifests/v1"
    with _client(registry.host) as client:
        assert [d.digest for d in client.referrers(registry.host, path, subject.digest)] == [artifact.digest]


# -- layouts --------------------------------------------------------------------------------


def test_export_layout_is_read_by_skopeo_and_pushed_with_its_referrers(
    registry: RunningRegistry,
    base_images: BaseImages,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = ImageLayout.open(base_images.busybox.layout)
    subject = source.find("latest")
    artifact = sbom_referrer(_sbom(0, "layout"), subject, created=WHEN)
    dest = tmp_path / "export"
    result = push_image(source, "latest", LayoutStore.create(dest), tag="release", referrers=[artifact])
    assert result.referrers == (artifact.digest,)

    inspected = subprocess.run(
        ["skopeo", "inspect", f"oci:{dest}:release"], check=True, capture_output=True
    ).stdout
    assert json.loads(inspected)["Digest"] == str(subject.digest)
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{dest}:release"], check=True, capture_output=True
    ).stdout
    assert Digest.of(raw) == subject.digest
    # skopeo copies the image out of the exported layout too (every blob is there).
    subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            f"oci:{dest}:release",
            f"oci:{tmp_path / 'copy'}:x",
        ],
        check=True,
        capture_output=True,
    )

    path = _repo("from-layout")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", registry.host)
    assert main(["push", f"oci:{dest}:release", f"{registry.host}/{path}:v2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["digest"] == str(subject.digest)
    assert out["referrers"] == [str(artifact.digest)]
    assert out["pinned"] == f"{registry.host}/{path}:v2@{subject.digest}"
    with _client(registry.host) as client:
        (listed,) = client.referrers(registry.host, path, subject.digest)
    assert listed.digest == artifact.digest
    assert listed.artifact_type == CYCLONEDX_JSON
