"""Sign in-toto statements into Sigstore bundles: with your own key, or keyless.

- ``--sign key --key PATH``: DSSE with an ECDSA P-256 key from ``repro keygen``; the
  bundle names the key by its hint, and has a transparency log entry when ``--tlog URL``
  names a Rekor log to upload it to (:mod:`repro.attest.tlog`), else none.
- ``--sign keyless``: Sigstore. An OIDC identity token (``--identity-token``, else
  ``SIGSTORE_ID_TOKEN``, else ambient detection such as GitHub Actions' ID token) buys a
  short-lived certificate from Fulcio; the signature is logged in Rekor; ``--staging``
  uses Sigstore's staging instance. Any other deployment is injected as a
  :class:`sigstore.sign.SigningContext`.

    signer = key_signer(Path("repro.key"))
    bundle_bytes = signer.sign(statement)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import requests
from cryptography.hazmat.primitives.asymmetric import ec

from repro.attest import dsse, keys
from repro.attest.bundle import key_bundle
from repro.attest.statements import IN_TOTO_PAYLOAD_TYPE, Statement
from repro.errors import AttestationError

if TYPE_CHECKING:
    from sigstore.oidc import IdentityToken
    from sigstore.sign import Signer as SigstoreSigner
    from sigstore.sign import SigningContext

    from repro.attest.tlog import RekorLog

logger = logging.getLogger(__name__)

TOKEN_ENV: Final = "SIGSTORE_ID_TOKEN"  # noqa: S105 (a variable name)


class Signer(Protocol):
    """Turns a statement into the bytes of a Sigstore bundle."""

    def sign(self, statement: Statement) -> bytes: ...

    @property
    def description(self) -> str:
        """Who signs, for messages: ``key <hint>`` or ``keyless <identity>``."""
        ...


class KeySigner:
    """Signs with an ECDSA P-256 private key; bundles carry the key's hint, and the entry
    of ``tlog`` (a Rekor log each signature is uploaded to) when one is given."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, *, tlog: RekorLog | None = None) -> None:
        self._key = private_key
        self.hint = keys.key_hint(private_key.public_key())
        self.tlog = tlog

    @property
    def description(self) -> str:
        return f"key {self.hint}"

    def sign(self, statement: Statement) -> bytes:
        envelope = dsse.sign(statement.to_bytes(), IN_TOTO_PAYLOAD_TYPE, self._key)
        public_key = self._key.public_key()
        entries = [self.tlog.upload(envelope, public_key)] if self.tlog is not None else []
        return key_bundle(envelope, public_key, entries)


def key_signer(path: Path, password: bytes | keys.PasswordSource | None = None) -> KeySigner:
    """A :class:`KeySigner` for the encrypted key at ``path`` (passphrase asked if not given)."""
    source: bytes | keys.PasswordSource = password if password is not None else keys.read_password
    return KeySigner(keys.load_private_key(path, source))


class KeylessSigner:
    """Signs with Sigstore: a Fulcio certificate for the identity token, a Rekor entry.

    One ephemeral key and certificate serve every statement signed by this object.
    """

    def __init__(self, context: SigningContext, token: IdentityToken) -> None:
        self._context = context
        self._token = token
        self._signer: SigstoreSigner | None = None

    @property
    def description(self) -> str:
        return f"keyless {self._token.identity} ({self._token.issuer})"

    def sign(self, statement: Statement) -> bytes:
        from sigstore import dsse as sigstore_dsse
        from sigstore._internal.fulcio.client import ExpiredCertificate, FulcioClientError
        from sigstore._internal.rekor import RekorClientError
        from sigstore.errors import Error as SigstoreError
        from sigstore.oidc import ExpiredIdentity

        try:
            if self._signer is None:
                self._signer = _open_signer(self._context, self._token)
            bundle = self._signer.sign_dsse(sigstore_dsse.Statement(statement.to_bytes()))
        except (SigstoreError, FulcioClientError, RekorClientError) as exc:
            raise AttestationError(f"keyless signing failed: {type(exc).__name__}: {exc}") from exc
        except (ExpiredIdentity, ExpiredCertificate) as exc:
            raise AttestationError(
                "keyless signing failed: the identity token or certificate has expired",
                hint="get a fresh identity token and sign again",
            ) from exc
        except requests.RequestException as exc:
            raise AttestationError(
                f"keyless signing failed: cannot reach Sigstore: {exc}",
                hint="keyless signing needs Fulcio and Rekor; sign with --sign key offline",
            ) from exc
        return bundle.to_json().encode()


def _open_signer(context: SigningContext, token: IdentityToken) -> SigstoreSigner:
    with context.signer(token, cache=True) as signer:
        return signer


def identity_token(explicit: str | None = None, *, env: Mapping[str, str] | None = None) -> IdentityToken:
    """The OIDC token to sign with: given, else ``SIGSTORE_ID_TOKEN``, else ambient.

    Ambient detection covers GitHub Actions (with ``id-token: write``) and the other CI
    systems sigstore knows. There is no browser flow: repro signs in pipelines.
    """
    from sigstore.oidc import IdentityError, IdentityToken, detect_credential

    env = os.environ if env is None else env
    raw = explicit or env.get(TOKEN_ENV)
    source = "--identity-token" if explicit else TOKEN_ENV
    if not raw:
        try:
            raw = detect_credential()
        except IdentityError as exc:
            raise AttestationError(f"ambient OIDC credential detection failed: {exc}") from exc
        source = "ambient credentials"
    if not raw:
        raise AttestationError(
            "keyless signing needs an OIDC identity token and none was found",
            hint=f"pass --identity-token, set {TOKEN_ENV}, or run in CI with an ID token "
            "(GitHub Actions: permissions: id-token: write)",
        )
    try:
        return IdentityToken(raw)
    except IdentityError as exc:
        raise AttestationError(f"the identity token from {source} is not usable: {exc}") from exc


def signing_context(*, staging: bool = False, trust_config: Path | None = None) -> SigningContext:
    """A SigningContext for Sigstore's public instance (or staging, or a trust config file)."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig
    from sigstore.sign import SigningContext

    try:
        if trust_config is not None:
            config = ClientTrustConfig.from_json(trust_config.read_text())
        else:
            config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
        return SigningContext.from_trust_config(config)
    except OSError as exc:
        raise AttestationError(f"{trust_config}: cannot read: {exc.strerror}") from exc
    except (SigstoreError, ValueError) as exc:
        raise AttestationError(f"cannot load the Sigstore trust configuration: {exc}") from exc


def keyless_signer(
    *, token: str | None = None, staging: bool = False, context: SigningContext | None = None
) -> KeylessSigner:
    """A :class:`KeylessSigner` for the public instance, staging, or an injected context."""
    resolved = identity_token(token)
    return KeylessSigner(context or signing_context(staging=staging), resolved)


def sign_statements(signer: Signer, statements: Sequence[Statement]) -> list[bytes]:
    """Sign each statement; the bundles in the same order."""
    bundles = []
    for statement in statements:
        bundles.append(signer.sign(statement))
        logger.info("signed %s (%s)", statement.predicate_type, signer.description)
    return bundles
