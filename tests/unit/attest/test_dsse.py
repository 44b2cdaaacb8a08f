"""DSSE: the PAE known answer, signing, verification and tampering."""

from __future__ import annotations

import base64

import pytest

from repro.attest import dsse
from repro.attest.keys import generate_key
from repro.errors import SignatureError, VerificationError


def test_pae_known_answer_from_the_dsse_spec() -> None:
    # The example of the DSSE v1 protocol document.
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert dsse.pae("t\u00e9", b"\x00\xff") == b"DSSEv1 3 t\xc3\xa9 2 \x00\xff"
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "


def test_sign_and_verify() -> None:
    key = generate_key()
    envelope = dsse.sign(b'{"a":1}', "application/vnd.in-toto+json", key)
    assert dsse.verify(envelope, key.public_key()) == b'{"a":1}'
    again = dsse.Envelope.from_json(envelope.to_json())
    assert again == envelope


@pytest.mark.parametrize("field", ["payload", "payloadType"])
def test_tampering_breaks_the_signature(field: str) -> None:
    key = generate_key()
    obj = dsse.sign(b'{"a":1}', "application/vnd.in-toto+json", key).to_json()
    obj[field] = base64.b64encode(b'{"a":2}').decode() if field == "payload" else "text/plain"
    with pytest.raises(SignatureError, match="signature invalid"):
        dsse.verify(dsse.Envelope.from_json(obj), key.public_key())


def test_another_key_does_not_verify() -> None:
    envelope = dsse.sign(b"x", "t", generate_key())
    with pytest.raises(SignatureError):
        dsse.verify(envelope, generate_key().public_key())


def test_more_than_one_signature_is_refused() -> None:
    key = generate_key()
    envelope = dsse.sign(b"x", "t", key)
    doubled = dsse.Envelope(envelope.payload, envelope.payload_type, envelope.signatures * 2)
    with pytest.raises(VerificationError, match="2 signatures"):
        dsse.verify(doubled, key.public_key())


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"payloadType": "t", "payload": "!!", "signatures": [{"sig": "AA=="}]},
        {"payloadType": "", "payload": "", "signatures": [{"sig": "AA=="}]},
        {"payloadType": "t", "payload": "", "signatures": []},
        {"payloadType": "t", "payload": "", "signatures": [{"sig": 1}]},
        {"payloadType": "t", "payload": "", "signatures": [{"sig": "AA==", "keyid": 3}]},
    ],
)
def test_malformed_envelopes_are_refused(obj: object) -> None:
    with pytest.raises(VerificationError):
        dsse.Envelope.from_json(obj)
