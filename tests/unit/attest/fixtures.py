"""Fixed inputs for the attestation unit tests (their expected outputs are in golden/)."""

from __future__ import annotations

from datetime import UTC, datetime

from repro.attest.statements import (
    BaseImage,
    BuildContext,
    ProvenanceInputs,
    ReproducibilityInputs,
    SourceContext,
    Subject,
    image_subjects,
)
from repro.digest import Digest

IMAGE = Digest("sha256", "1" * 64)
INDEX = Digest("sha256", "2" * 64)
OTHER = Digest("sha256", "3" * 64)
BASE = Digest("sha256", "4" * 64)
NAME = "registry.example/team/app"
SUBJECTS: tuple[Subject, ...] = image_subjects(NAME, IMAGE, INDEX)
#: No GitHub Actions, no configured builder.
PLAIN_ENV: dict[str, str] = {}

PROVENANCE = ProvenanceInputs(
    dockerfile="docker/Dockerfile",
    started_on=datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
    finished_on=datetime(2024, 5, 1, 12, 3, 30, 250000, tzinfo=UTC),
    target="runtime",
    platforms=("linux/amd64",),
    build_args={"VERSION": "1.2.3", "NPM_TOKEN": "s3cr3t-npm", "DB_PASSWORD": "hunter2", "api_key": "k"},
    context=SourceContext("https://github.com/example/app", "a" * 40, "refs/heads/main"),
    build_context=BuildContext("5" * 64, 12),
    base_images=(BaseImage("debian:bookworm@sha256:" + "4" * 64, BASE),),
    source_date_epoch=1714564800,
    build_digests=(IMAGE, IMAGE),
    scrubbed=("var/log/dpkg.log", "var/cache/ldconfig/aux-cache"),
    engines={"buildah": "1.28.2"},
)

REPRODUCIBILITY = ReproducibilityInputs(
    digests=(IMAGE, IMAGE),
    variations={"timezone": ["UTC", "Pacific/Kiritimati"], "umask": ["0022", "0077"]},
    source_date_epoch=1714564800,
    normalizer={"compressor": "zlib", "version": "1"},
)

SBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "serialNumber": "urn:uuid:00000000-0000-4000-8000-000000000000",
    "version": 1,
    "components": [{"type": "library", "name": "curl", "version": "7.88.1-10", "bom-ref": "curl"}],
}
