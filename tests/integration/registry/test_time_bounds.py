"""REPRO_TIMEOUT bounds each whole request -- connect, headers and body -- not each read:
a registry that drips one byte every 2 s is given up on in time, and Ctrl-C during a
stalled resolve ends repro at once (exit 130) on the first press.

A real registry behind :class:`~devtools.testbed.proxy.FaultProxy` with a ``Drip`` effect.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from devtools.testbed import BaseImages, RunningRegistry
from devtools.testbed.proxy import Drip, FaultProxy
from repro.cli import main
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.errors import EXIT_INTERRUPTED, EXIT_REGISTRY, RegistryUnreachableError
from repro.reference import parse_reference
from repro.registry import RegistryClient

MANIFESTS = r"/v2/busybox/manifests/"
BLOBS = r"/v2/busybox/blobs/sha256:"
TIMEOUT = 3.0
# Connect + first bytes of a healthy answer take milliseconds on loopback; the rest is
# scheduling slack on a loaded 2-core machine.
SLACK = 3.0


@pytest.fixture
def proxy(registry: RunningRegistry, base_images: BaseImages) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as running:
        yield running


def _client(host: str, timeout: float = TIMEOUT) -> RegistryClient:
    return RegistryClient(Config(registries={host: RegistryConfig(insecure=True)}, timeout=timeout))


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_dripping_manifest_is_given_up_on_within_the_timeout(proxy: FaultProxy, part: str) -> None:
    proxy.add(Drip(interval=1.0, part=part), path=MANIFESTS + "latest$")  # type: ignore[arg-type]
    started = time.monotonic()
    with (
        _client(proxy.host) as client,
        pytest.raises(RegistryUnreachableError, match=f"timed out after {TIMEOUT:g} s"),
    ):
        client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))
    elapsed = time.monotonic() - started
    assert TIMEOUT - 0.5 <= elapsed < TIMEOUT + SLACK, elapsed


def test_a_dripping_blob_is_given_up_on(proxy: FaultProxy, base_images: BaseImages) -> None:
    layer = base_images.busybox.manifest_json()["layers"][0]
    proxy.add(Drip(interval=1.0, part="body"), path=BLOBS)
    started = time.monotonic()
    sink = io.BytesIO()
    with _client(proxy.host) as client, pytest.raises(RegistryUnreachableError, match="timed out"):
        client.fetch_blob(proxy.host, "busybox", Digest.parse(layer["digest"]), sink, size=int(layer["size"]))
    # A few bytes earn (bytes / 64 KiB/s) of extra time: nothing measurable.
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert sink.tell() < 16


def test_the_cli_honours_repro_timeout_against_a_drip(
    proxy: FaultProxy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.add(Drip(interval=2.0, part="headers"), path=MANIFESTS)
    monkeypatch.setenv("REPRO_TIMEOUT", "5")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", proxy.host)
    started = time.monotonic()
    assert main(["resolve", f"{proxy.host}/busybox:latest"]) == EXIT_REGISTRY
    assert time.monotonic() - started < 5 + SLACK
    err = capsys.readouterr().err
    assert "timed out after 5 s" in err
    assert "Traceback" not in err


def test_a_healthy_registry_is_unaffected(proxy: FaultProxy, base_images: BaseImages) -> None:
    layer = base_images.busybox.manifest_json()["layers"][0]
    sink = io.BytesIO()
    with _client(proxy.host, timeout=1.0) as client:
        for _ in range(20):  # connections go back to the pool and are reused after a deadline
            client.resolve(parse_reference(f"{proxy.host}/busybox:latest"))
        time.sleep(1.5)  # every earlier deadline has passed: reused connections must still work
        assert client.fetch_blob(proxy.host, "busybox", Digest.parse(layer["digest"]), sink) == int(
            layer["size"]
        )


def test_first_ctrl_c_during_a_stalled_resolve_exits_130(proxy: FaultProxy) -> None:
    proxy.add(Drip(interval=2.0, part="headers"), path=MANIFESTS)
    env = {**os.environ, "REPRO_TIMEOUT": "120", "REPRO_INSECURE_REGISTRIES": proxy.host}
    refs = [f"{proxy.host}/busybox:{tag}" for tag in ("latest", "a", "b", "c")]
    process = subprocess.Popen(
        [sys.executable, "-m", "repro", "resolve", *refs],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while proxy.count("GET", MANIFESTS) < len(refs) and time.monotonic() < deadline:
            time.sleep(0.1)  # every worker is stuck in a read
        assert process.poll() is None
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
        assert process.returncode == EXIT_INTERRUPTED, err
        assert time.monotonic() - sent < 3
        assert "interrupted" in err
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_deadline_holds_through_an_http_proxy(
    registry: RunningRegistry, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HTTP_PROXY`` routes requests through urllib3's proxy pools: they obey the deadline too."""
    # FaultProxy forwards absolute-form requests as a forward proxy would: the registry is
    # reached *through* it, by its own address.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://{proxy.host}")
    proxy.add(Drip(interval=1.0, part="body"), path=MANIFESTS + "latest$")
    started = time.monotonic()
    with (
        _client(registry.host) as client,
        pytest.raises(RegistryUnreachableError, match=f"timed out after {TIMEOUT:g} s"),
    ):
        client.resolve(parse_reference(f"{registry.host}/busybox:latest"))
    assert proxy.count("GET", MANIFESTS) >= 1  # it really went through the proxy
    assert time.monotonic() - started < TIMEOUT + SLACK


def test_first_ctrl_c_during_a_stalled_pull_exits_130(proxy: FaultProxy) -> None:
    """Blob downloads run on worker threads; a stalled one must not hold up Ctrl-C."""
    proxy.add(Drip(interval=2.0, part="body"), path=BLOBS)
    env = {**os.environ, "REPRO_TIMEOUT": "120", "REPRO_INSECURE_REGISTRIES": proxy.host}
    process = subprocess.Popen(
        [sys.executable, "-m", "repro", "sbom", f"{proxy.host}/busybox:latest"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while proxy.count("GET", BLOBS) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the worker is inside its read
        assert process.poll() is None
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
        assert process.returncode == EXIT_INTERRUPTED, err
        assert time.monotonic() - sent < 3
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
