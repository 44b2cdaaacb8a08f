"""Attestations: in-toto statements about an image, signed into Sigstore bundles, attached
to the image as OCI referrers, and verified.

    statement = slsa_provenance(image_subjects(name, digest), inputs)
    bundle_bytes = key_signer(Path("repro.key")).sign(statement)
    manifest, media_type = referrer_manifest(
        bundle_bytes, subject=image_descriptor, predicate_type=statement.predicate_type, created=now
    )

Modules: :mod:`~repro.attest.statements` (in-toto, SLSA, CycloneDX, reproducibility),
:mod:`~repro.attest.dsse`, :mod:`~repro.attest.keys`, :mod:`~repro.attest.bundle`,
:mod:`~repro.attest.sign`, :mod:`~repro.attest.referrers`, :mod:`~repro.attest.verify_image`.
sigstore is imported only where keyless signing or verification needs it.
"""

from __future__ import annotations

from repro.attest.bundle import BUNDLE_V03, ParsedBundle, key_bundle, parse_bundle
from repro.attest.keys import (
    KeyPair,
    generate_key,
    key_hint,
    load_private_key,
    load_public_key,
    write_keypair,
)
from repro.attest.referrers import (
    BUNDLE_ARTIFACT_TYPE,
    CYCLONEDX_ARTIFACT_TYPE,
    EMPTY_CONFIG,
    EMPTY_CONFIG_DESCRIPTOR,
    referrer_manifest,
)
from repro.attest.sign import KeylessSigner, KeySigner, Signer, key_signer, keyless_signer, sign_statements
from repro.attest.statements import (
    CYCLONEDX_BOM,
    REPRODUCIBLE_V1,
    SLSA_PROVENANCE_V1,
    BaseImage,
    ProvenanceInputs,
    ReproducibilityInputs,
    SourceContext,
    Statement,
    Subject,
    cyclonedx_statement,
    image_subjects,
    reproducibility_statement,
    slsa_provenance,
)

__all__ = [
    "BUNDLE_ARTIFACT_TYPE",
    "BUNDLE_V03",
    "CYCLONEDX_ARTIFACT_TYPE",
    "CYCLONEDX_BOM",
    "EMPTY_CONFIG",
    "EMPTY_CONFIG_DESCRIPTOR",
    "REPRODUCIBLE_V1",
    "SLSA_PROVENANCE_V1",
    "BaseImage",
    "KeyPair",
    "KeySigner",
    "KeylessSigner",
    "ParsedBundle",
    "ProvenanceInputs",
    "ReproducibilityInputs",
    "Signer",
    "SourceContext",
    "Statement",
    "Subject",
    "cyclonedx_statement",
    "generate_key",
    "image_subjects",
    "key_bundle",
    "key_hint",
    "key_signer",
    "keyless_signer",
    "load_private_key",
    "load_public_key",
    "parse_bundle",
    "referrer_manifest",
    "reproducibility_statement",
    "sign_statements",
    "slsa_provenance",
    "write_keypair",
]
