"""``repro doctor`` with something missing: the line says what and how to fix it, and the
exit code is 1 only when a configured or requested feature needs it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from repro.cli import main
from repro.config import Config, RegistryConfig
from repro.doctor import MISSING, OK, DoctorCheck, DoctorReport, run_doctor
from repro.platform import Platform


def no_program(name: str) -> str | None:
    return None


def by_name(report: DoctorReport) -> dict[str, object]:
    return {check.name: check for check in report.checks}


def fake_binfmt(directory: Path, entries: dict[str, bool]) -> Path:
    directory.mkdir()
    (directory / "status").write_text("enabled\n")
    (directory / "register").write_text("")
    for name, enabled in entries.items():
        (directory / name).write_text(("enabled" if enabled else "disabled") + "\ninterpreter /usr/bin/x\n")
    return directory


def test_without_buildah_the_report_fails_with_the_fix(tmp_path: Path) -> None:
    report = run_doctor(Config(), which=no_program, check_registries=False, binfmt_dir=tmp_path / "none")
    buildah = next(c for c in report.checks if c.name == "buildah")
    assert buildah.status == MISSING
    assert buildah.required
    assert buildah.fix is not None
    assert "apt-get install buildah" in buildah.fix
    assert not report.ok
    text = report.to_text()
    assert "MISSING  buildah" in text
    assert "fix: apt-get install buildah" in text
    # optional programs are information, not failures
    assert {c.name: c.status for c in report.checks}["skopeo"] == "info"


def test_cli_exit_code_and_json_with_path_lacking_buildah(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no buildah, docker or skopeo here
    assert main(["doctor", str(tmp_path), "--offline", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    failed = [c for c in document["checks"] if c["required"] and c["status"] == "missing"]
    assert [c["name"] for c in failed] == ["buildah"]
    assert set(failed[0]) == {"name", "feature", "status", "detail", "fix", "required"}


@pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah for an all-ok run")
def test_with_buildah_and_nothing_configured_the_exit_is_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", str(tmp_path), "--offline"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "repro doctor: everything the configured features need is here"
    buildah = next(line for line in out.splitlines() if " buildah " in line)
    assert buildah.startswith("ok ")
    assert "Dockerfile features:" in buildah


def test_platform_emulation_is_required_only_when_asked(tmp_path: Path) -> None:
    other = "linux/arm64" if Platform.host().architecture != "arm64" else "linux/amd64"
    qemu = "qemu-aarch64" if other == "linux/arm64" else "qemu-x86_64"
    unmounted = tmp_path / "unmounted"
    quiet = run_doctor(Config(), which=no_program, check_registries=False, binfmt_dir=unmounted)
    check = next(c for c in quiet.checks if c.name == f"platform {other}")
    assert (check.status, check.required) == ("info", False)

    asked = run_doctor(
        Config(),
        platforms=[Platform.parse(other)],
        which=no_program,
        check_registries=False,
        binfmt_dir=unmounted,
    )
    check = next(c for c in asked.checks if c.name == f"platform {other}")
    assert (check.status, check.required) == (MISSING, True)
    assert "binfmt_misc is not mounted" in check.detail
    assert check.fix is not None
    assert "qemu-user-static" in check.fix

    disabled = fake_binfmt(tmp_path / "disabled", {qemu: False})
    check = next(
        c
        for c in run_doctor(
            Config(),
            platforms=[Platform.parse(other)],
            which=no_program,
            check_registries=False,
            binfmt_dir=disabled,
        ).checks
        if c.name == f"platform {other}"
    )
    assert check.status == MISSING
    assert check.fix == f"update-binfmts --enable {qemu}"

    enabled = fake_binfmt(tmp_path / "enabled", {qemu: True})
    check = next(
        c
        for c in run_doctor(
            Config(),
            platforms=[Platform.parse(other)],
            which=no_program,
            check_registries=False,
            binfmt_dir=enabled,
        ).checks
        if c.name == f"platform {other}"
    )
    assert (check.status, check.detail) == (OK, f"emulated by {qemu}")


def test_signing_key_is_checked_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from repro.attest.keys import write_keypair

    monkeypatch.delenv("REPRO_KEY_PASSWORD", raising=False)
    missing = run_doctor(Config(), key=tmp_path / "nope.key", which=no_program, check_registries=False)
    check = next(c for c in missing.checks if c.name == "signing key")
    assert (check.status, check.required) == (MISSING, True)
    assert "cannot read" in check.detail

    plain = tmp_path / "plain.key"
    plain.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    check = next(
        c
        for c in run_doctor(Config(), key=plain, which=no_program, check_registries=False).checks
        if c.name == "signing key"
    )
    assert check.status == MISSING
    assert "not an encrypted PEM private key" in check.detail

    pair = write_keypair(tmp_path / "release", b"pass phrase")
    check = next(
        c
        for c in run_doctor(Config(), key=pair.private_key, which=no_program, check_registries=False).checks
        if c.name == "signing key"
    )
    assert check.status == "warning"  # usable; REPRO_KEY_PASSWORD unset
    assert f"public half {pair.public_key}" in check.detail
    assert "pass phrase" not in json.dumps(check.to_json())


def test_credentials_are_reported_by_place_not_value(tmp_path: Path) -> None:
    import base64

    docker = tmp_path / "docker"
    docker.mkdir()
    secret = "s3cr3t-value"
    auth = base64.b64encode(f"user:{secret}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {"registry.example": {"auth": auth}}}))
    config = Config(registries={"registry.example": RegistryConfig(), "other.example": RegistryConfig()})
    report = run_doctor(
        config, which=no_program, check_registries=False, environ={**os.environ, "DOCKER_CONFIG": str(docker)}
    )
    checks = {c.name: c for c in report.checks}
    assert checks["credentials registry.example"].status == OK
    assert checks["credentials other.example"].status == "info"
    assert secret not in json.dumps(report.to_json())
    assert "user" not in checks["credentials registry.example"].detail


# --- the CA bundle check -------------------------------------------------------------------


def _ca(common_name: str) -> bytes:
    """A self-signed CA certificate in PEM."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def mozilla_pems() -> list[bytes]:
    return [_ca("Mozilla Root One"), _ca("Mozilla Root Two")]


def _trust(tmp_path: Path, mozilla: list[bytes], host: list[bytes]) -> tuple[Path, Path]:
    directory = tmp_path / "mozilla"
    directory.mkdir()
    for index, pem in enumerate(mozilla):
        (directory / f"root-{index}.crt").write_bytes(pem)
    bundle = tmp_path / "ca-certificates.crt"
    bundle.write_bytes(b"".join(host))
    return bundle, directory


def _ca_check(
    tmp_path: Path, bundle: Path, mozilla_dir: Path, config: Config | None = None, **env: str
) -> DoctorCheck:
    report = run_doctor(
        config or Config(),
        which=no_program,
        check_registries=False,
        binfmt_dir=tmp_path / "none",
        environ=env,
        system_bundle=bundle,
        mozilla_dir=mozilla_dir,
    )
    check = by_name(report)["CA bundle"]
    assert isinstance(check, DoctorCheck)
    return check


def test_a_host_trusting_only_mozillas_cas_needs_no_bundle(tmp_path: Path, mozilla_pems: list[bytes]) -> None:
    bundle, mozilla = _trust(tmp_path, mozilla_pems, mozilla_pems)
    check = _ca_check(tmp_path, bundle, mozilla)
    assert check.status == OK
    assert "only CAs of Mozilla's set" in check.detail


def test_a_host_ca_outside_mozillas_set_asks_for_ca_bundle(tmp_path: Path, mozilla_pems: list[bytes]) -> None:
    proxy = _ca("Corporate TLS Inspection CA")
    bundle, mozilla = _trust(tmp_path, mozilla_pems, [*mozilla_pems, proxy])
    check = _ca_check(tmp_path, bundle, mozilla)
    assert check.status == "warning"
    assert "1 CA(s) outside Mozilla's set" in check.detail
    assert "CN=Corporate TLS Inspection CA" in check.detail
    assert check.fix == f"build with --ca-bundle {bundle} (or ca_bundle in the configuration)"
    assert not check.required

    configured = _ca_check(tmp_path, bundle, mozilla, Config(ca_bundle=bundle))
    assert configured.status == OK
    assert f"builds get {bundle}" in configured.detail


def test_a_ca_named_like_a_mozilla_root_is_compared_by_its_bytes(
    tmp_path: Path, mozilla_pems: list[bytes]
) -> None:
    impostor = _ca("Mozilla Root One")  # same name, another key
    bundle, mozilla = _trust(tmp_path, mozilla_pems, [mozilla_pems[1], impostor])
    check = _ca_check(tmp_path, bundle, mozilla)
    assert check.status == "warning"
    assert "CN=Mozilla Root One" in check.detail


def test_ssl_cert_file_is_the_bundle_compared_and_garbage_is_no_traceback(
    tmp_path: Path, mozilla_pems: list[bytes]
) -> None:
    bundle, mozilla = _trust(tmp_path, mozilla_pems, mozilla_pems)
    other = tmp_path / "other.pem"
    other.write_bytes(
        b"-----BEGIN CERTIFICATE-----\n%%% not base64 %%%\n-----END CERTIFICATE-----\n" + _ca("Extra")
    )
    check = _ca_check(tmp_path, bundle, mozilla, SSL_CERT_FILE=str(other))
    assert check.status == "warning"
    assert str(other) in check.detail
    missing = _ca_check(tmp_path, tmp_path / "absent.crt", mozilla)
    assert missing.status == "info"
