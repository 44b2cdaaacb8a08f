"""Key-based Sigstore bundles v0.3 and the referrer manifests that carry them."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sigstore.models import Bundle, InvalidBundle

from repro.attest import referrers
from repro.attest.bundle import BUNDLE_V03, key_bundle, parse_bundle
from repro.attest.dsse import sign
from repro.attest.keys import generate_key, key_hint
from repro.attest.sign import KeySigner
from repro.digest import Digest
from repro.errors import VerificationError
from repro.oci import media
from repro.oci.models import Descriptor, Manifest, parse_manifest
from tests.unit.attest.helpers import statement_for

SUBJECT = Descriptor(media.OCI_MANIFEST, Digest("sha256", "1" * 64), 401)


def test_key_bundle_shape() -> None:
    key = generate_key()
    envelope = sign(b"{}", "application/vnd.in-toto+json", key)
    document = json.loads(key_bundle(envelope, key.public_key()))
    assert document["mediaType"] == BUNDLE_V03 == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert document["verificationMaterial"] == {
        "publicKey": {"hint": key_hint(key.public_key())},
        "tlogEntries": [],
    }
    assert document["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    parsed = parse_bundle(key_bundle(envelope, key.public_key()))
    assert parsed.hint == key_hint(key.public_key())
    assert not parsed.keyless
    assert parsed.envelope == envelope


def test_sigstore_cannot_load_key_based_bundles() -> None:
    """Why repro reads key-based bundles itself: sigstore 4.5's Bundle wants a certificate."""
    bundle = KeySigner(generate_key()).sign(statement_for(SUBJECT.digest, "https://example.com/p"))
    with pytest.raises(InvalidBundle, match="certificate"):
        Bundle.from_json(bundle)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1"}, "unsupported media type"),
        ({"mediaType": BUNDLE_V03}, "verificationMaterial"),
        ({"mediaType": BUNDLE_V03, "verificationMaterial": {}, "messageSignature": {}}, "dsseEnvelope"),
        (
            {
                "mediaType": BUNDLE_V03,
                "verificationMaterial": {},
                "dsseEnvelope": {"payload": "", "payloadType": "t", "signatures": [{"sig": "AA=="}]},
            },
            "neither",
        ),
        (
            {
                "mediaType": BUNDLE_V03,
                "verificationMaterial": {"publicKey": {"hint": ""}},
                "dsseEnvelope": {"payload": "", "payloadType": "t", "signatures": [{"sig": "AA=="}]},
            },
            "hint",
        ),
    ],
)
def test_malformed_bundles_are_refused(document: object, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        parse_bundle(json.dumps(document).encode())
    with pytest.raises(VerificationError, match="not JSON"):
        parse_bundle(b"\xff")


def test_empty_config_constant() -> None:
    assert referrers.EMPTY_CONFIG == b"{}"
    assert str(referrers.EMPTY_CONFIG_DESCRIPTOR.digest) == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )
    assert referrers.EMPTY_CONFIG_DESCRIPTOR.media_type == "application/vnd.oci.empty.v1+json"


def test_referrer_manifest_for_a_bundle() -> None:
    bundle = b'{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}'
    data, media_type = referrers.referrer_manifest(
        bundle,
        subject=SUBJECT,
        predicate_type="https://slsa.dev/provenance/v1",
        created="2024-05-01T12:00:00Z",
    )
    assert media_type == media.OCI_MANIFEST
    manifest = parse_manifest(data, media_type)
    assert isinstance(manifest, Manifest)
    assert manifest.artifact_type == "application/vnd.dev.sigstore.bundle.v0.3+json"
    # As cosign's WriteReferrer: the empty config, with the artifactType in its descriptor too.
    assert manifest.config == dataclasses.replace(
        referrers.EMPTY_CONFIG_DESCRIPTOR, artifact_type=referrers.BUNDLE_ARTIFACT_TYPE
    )
    [layer] = manifest.layers
    assert (layer.media_type, layer.digest, layer.size) == (
        manifest.artifact_type,
        Digest.of(bundle),
        len(bundle),
    )
    assert manifest.subject == SUBJECT
    assert dict(manifest.annotations) == {
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1",
        "org.opencontainers.image.created": "2024-05-01T12:00:00Z",
    }
    # Deterministic: the same bundle attached twice is one referrer.
    again, _ = referrers.referrer_manifest(
        bundle,
        subject=SUBJECT,
        predicate_type="https://slsa.dev/provenance/v1",
        created="2024-05-01T12:00:00Z",
    )
    assert again == data
