// Test-only: verify a Sigstore bundle with sigstore-js, as a consumer outside repro would.
//
//   node verify.js REQUEST.json
//
// REQUEST: {"bundle": PATH, "keys": {HINT: PEM}?, "trustedRoot": PATH?,
//           "policy": {"subjectAlternativeName": ID, "extensions": {"issuer": URL}}?,
//           "tlogThreshold": N?, "ctlogThreshold": N?, "tsaThreshold": N?}
// Prints {"ok": true, "signer": {...}} or {"ok": false, "code": ..., "error": ...}.
'use strict';

const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const root = TrustedRoot.fromJSON(
    request.trustedRoot ? JSON.parse(fs.readFileSync(request.trustedRoot, 'utf8')) : EMPTY_ROOT
  );
  // Trust material from public keys: each keyed by the hint bundles name it by.
  const keys = {};
  for (const [hint, pem] of Object.entries(request.keys || {})) {
    const der = crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' });
    keys[hint] = { rawBytes: der, keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: new Date(0) } };
  }
  const options = {};
  for (const name of ['tlogThreshold', 'ctlogThreshold', 'tsaThreshold']) {
    if (request[name] !== undefined) options[name] = request[name];
  }
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(request.bundle, 'utf8')));
  const verifier = new Verifier(toTrustMaterial(root, keys), options);
  const signer = verifier.verify(toSignedEntity(bundle), request.policy);
  return { ok: true, identity: signer.identity || null };
}

let result;
try {
  result = main();
} catch (err) {
  result = { ok: false, code: err.code || err.name, error: String(err.message || err) };
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exitCode = result.ok ? 0 : 1;
