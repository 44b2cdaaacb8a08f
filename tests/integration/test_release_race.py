"""Two ``repro release`` runs racing for one tag of a real registry: at most one says
"released", and the tag keeps the winner's image.

Registries have no compare-and-swap; the release re-reads the tag just before writing it
and again after. Release B begins while the tag is absent; release A, with other content,
is released to the same tag while B pushes (started from B's progress callback, so the
interleaving is fixed, not left to timing).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from devtools.testbed import BaseImages
from repro.attest.sign import KeySigner
from repro.attest.verify_image import KeyTrust
from repro.build import BuildSpec
from repro.build.engines import create_engine
from repro.config import Config, RegistryConfig
from repro.errors import EXIT_RELEASE_PUSH, ReleaseError
from repro.reference import parse_reference
from repro.registry import RegistryClient
from repro.release import ReleaseOptions, ReleaseReport, release
from repro.release.progress import StageEvent
from tests.programs import require_programs

pytestmark = [pytest.mark.buildah, pytest.mark.slow]


def _app(directory: Path, base: str, text: str) -> Path:
    directory.mkdir()
    (directory / "greeting.txt").write_text(text)
    (directory / "Dockerfile").write_text(f"FROM {base}\nCOPY greeting.txt /greeting.txt\nUSER 65534:65534\n")
    return directory


def test_two_releases_racing_for_one_registry_tag(
    base_images: BaseImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_programs("buildah")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1704067200")
    monkeypatch.chdir(tmp_path)
    config = Config(registries={base_images.host: RegistryConfig(insecure=True)}, timeout=30.0)
    key = ec.generate_private_key(ec.SECP256R1())
    signer, trust = KeySigner(key), KeyTrust(key.public_key())
    target = f"{base_images.host}/race/app:1.0"

    def options(name: str, text: str) -> ReleaseOptions:
        app = _app(tmp_path / name, base_images.busybox.pinned, text)
        return ReleaseOptions(BuildSpec(app), image=target, push=target, workdir=tmp_path / f"work-{name}")

    winners: list[ReleaseReport] = []

    def meanwhile(event: StageEvent) -> None:
        if event.stage == "push" and event.kind == "start" and not winners:
            winners.append(
                release(
                    options("a", "from release A\n"),
                    config=config,
                    engines=[create_engine("buildah", config=config)],
                    signer=signer,
                    trust=trust,
                )
            )

    with pytest.raises(ReleaseError) as caught:
        release(
            options("b", "from release B\n"),
            config=config,
            engines=[create_engine("buildah", config=config)],
            signer=signer,
            trust=trust,
            progress=meanwhile,
        )
    (winner,) = winners
    assert winner.status == "released"
    assert caught.value.exit_code == EXIT_RELEASE_PUSH
    assert "won the race" in str(caught.value)
    loser = caught.value.report
    assert isinstance(loser, ReleaseReport)
    assert loser.status == "failed"
    assert loser.pinned is None
    assert loser.digest is not None
    assert loser.digest != winner.digest
    with RegistryClient(config) as client:
        assert str(client.resolve(parse_reference(target)).digest) == winner.digest  # A's tag stands
