"""``repro doctor`` against real registries: a plain-http one marked insecure, a TLS one with
and without its CA, and one that is down — each with the settings repro itself would use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.testbed import RunningRegistry
from repro.cli import main


def test_doctor_contacts_each_configured_registry(
    registry: RunningRegistry,
    tls_registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert tls_registry.ca_file is not None
    dead = fresh_registry.host
    fresh_registry.kill()
    config = tmp_path / "repro.toml"
    config.write_text(
        f'[registries."{registry.host}"]\ninsecure = true\n'
        f'[registries."{tls_registry.host}"]\nca_file = "{tls_registry.ca_file}"\n'
    )
    assert main(["--config", str(config), "doctor", str(tmp_path), "--json"]) in (0, 1)
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    plain = checks[f"registry {registry.host}"]
    assert (plain["status"], plain["detail"]) == ("ok", "answers over plain http (insecure)")
    tls = checks[f"registry {tls_registry.host}"]
    assert tls["status"] == "ok"
    assert tls["detail"].startswith(f"answers over https, CA {tls_registry.ca_file}")
    assert tls["detail"].endswith("(asks for credentials)")  # the TLS flavour has basic auth

    # the TLS registry without its CA, and a registry that is down: exit 1, each with its fix
    config.write_text(f'[registries."{tls_registry.host}"]\n[registries."{dead}"]\ninsecure = true\n')
    assert main(["--config", str(config), "doctor", str(tmp_path), "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c for c in document["checks"]}
    untrusted = checks[f"registry {tls_registry.host}"]
    assert untrusted["status"] == "missing"
    assert "TLS certificate verification failed" in untrusted["detail"]
    assert "ca_file" in untrusted["fix"]
    down = checks[f"registry {dead}"]
    assert down["status"] == "missing"
    assert "connection refused" in down["detail"]
    assert down["fix"].startswith("check the port")
    assert document["configuration"] == str(config)
