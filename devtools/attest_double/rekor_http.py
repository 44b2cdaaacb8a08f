"""TEST DOUBLE of a Rekor v1 transparency log served over HTTP on loopback, for tests only.

It speaks the part of Rekor's v1 API that a signer uses: ``POST /api/v1/log/entries``
with a ``dsse`` 0.0.1 proposed entry (the verifier a PEM certificate or public key,
base64-encoded) answers ``201`` with the logged entry (canonicalized body, integrated
time, log index and ID, an inclusion proof with a signed checkpoint, and a signed entry
timestamp), and ``GET /api/v1/log/publicKey`` the log's public key (PEM). Entries go
into the Merkle tree of a :class:`~devtools.attest_double.LocalSigstore`, whose
``trusted_root.json`` names the log's key, so what it logs verifies with sigstore-python
and sigstore-js against that root.

    double = LocalSigstore()
    with RekorServer(double) as rekor:
        ...  # repro release --tlog rekor.url
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from devtools.attest_double import LocalSigstore

ENTRIES_PATH: Final = "/api/v1/log/entries"
PUBLIC_KEY_PATH: Final = "/api/v1/log/publicKey"
#: Larger requests are refused, as a real log limits entry size.
MAX_REQUEST: Final = 8 * 1024 * 1024


class RekorServer:
    """A Rekor v1 HTTP endpoint on ``127.0.0.1`` over the double's log; ``url`` once started."""

    def __init__(self, double: LocalSigstore) -> None:
        self.double = double
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str) -> None:
                self._answer(
                    status, json.dumps({"code": status, "message": message}).encode(), "application/json"
                )

            def do_GET(self) -> None:
                if self.path != PUBLIC_KEY_PATH:
                    self._error(404, "not found")
                    return
                pem = server.double.log_key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                self._answer(200, pem, "application/x-pem-file")

            def do_POST(self) -> None:
                if self.path != ENTRIES_PATH:
                    self._error(404, "not found")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST:
                    self._error(413, "entry too large")
                    return
                try:
                    proposed = json.loads(self.rfile.read(length))
                    server.requests.append(proposed)
                    answer = server.double.rekor.append(proposed)
                except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
                    self._error(400, f"entry refused: {type(exc).__name__}: {exc}")
                    return
                [entry_uuid] = answer
                self._answer(
                    201,
                    json.dumps(answer).encode(),
                    "application/json",
                    Location=f"{ENTRIES_PATH}/{entry_uuid}",
                )

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="rekor-double", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RekorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> RekorServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


__all__ = ["ENTRIES_PATH", "PUBLIC_KEY_PATH", "RekorServer"]
