"""``repro keygen`` and ``verify-image``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from repro.cli._commands import command_help
from repro.cli._common import _load_config, _Parser, _platforms_arg, _print_json
from repro.errors import EXIT_OK, Error, UsageError

if TYPE_CHECKING:
    from repro.attest.verify_image import ImageVerification


# --- repro keygen / verify-image -------------------------------------------------------


def _cmd_keygen(args: argparse.Namespace) -> int:
    from repro.attest.keys import keypair_paths, read_password, write_keypair

    private_path, public_path = keypair_paths(args.prefix)
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(f"{path} exists; refusing to overwrite it")
    pair = write_keypair(args.prefix, read_password(confirm=True))
    if args.json:
        _print_json(pair.to_json())
    else:
        print(pair.public_key)
    print(
        f"repro keygen: wrote {pair.private_key} (encrypted) and {pair.public_key}; key hint {pair.hint}",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_verify_image(args: argparse.Namespace) -> int:
    """Verify; with ``--json`` a result object is printed whatever the outcome."""
    try:
        result = _verify_image(args)
    except Error as err:
        if args.json:
            from repro.attest.verify_image import error_json

            _print_json(
                {"image": args.ref, "ok": False, "verified": [], "rejected": [], "error": error_json(err)}
            )
        raise
    if args.json:
        _print_json(result.to_json())
    else:
        for attestation in result.verified:
            print(
                f"{attestation.predicate_type}\t{attestation.referrer}\t{attestation.signer}\t{attestation.subject}"
            )
    print(
        f"repro verify-image: {result.image}: {len(result.verified)} attestation(s) verified "
        f"({result.trust}), {len(result.rejected)} rejected",
        file=sys.stderr,
    )
    if result.error is not None:
        raise result.error
    return EXIT_OK


def _verify_image(args: argparse.Namespace) -> ImageVerification:
    from repro.attest.statements import predicate_types
    from repro.attest.verify_image import (
        IdentityTrust,
        KeyTrust,
        TrustPolicy,
        evaluate_source,
        load_trusted_root,
        open_source,
    )

    identity_given = args.certificate_identity is not None or args.certificate_identity_regexp is not None
    trust: TrustPolicy
    if args.key is not None:
        if identity_given or args.certificate_oidc_issuer:
            raise UsageError("--key excludes the keyless options (--certificate-*)")
        from repro.attest.keys import load_public_key

        # With a trusted root, the bundles' log entries are checked against its logs;
        # --require-tlog alone checks them against Sigstore's public instance.
        root = load_trusted_root(args.trusted_root) if args.trusted_root or args.require_tlog else None
        trust = KeyTrust(load_public_key(args.key), trusted_root=root, require_tlog=args.require_tlog)
    elif identity_given:
        if not args.certificate_oidc_issuer:
            raise UsageError("keyless verification needs --certificate-oidc-issuer too")
        trust = IdentityTrust(
            issuer=args.certificate_oidc_issuer,
            trusted_root=load_trusted_root(args.trusted_root),
            identity=args.certificate_identity,
            identity_regexp=args.certificate_identity_regexp,
        )
    else:
        raise UsageError(
            "say whom to trust: --key PUB, or --certificate-identity[-regexp] and --certificate-oidc-issuer"
        )
    require = predicate_types(name for item in args.require or () for name in item.split(","))
    platforms = _platforms_arg(args)
    from repro.images.location import RegistryLocation, parse_location

    if not isinstance(parse_location(args.ref, what="REF"), RegistryLocation):
        result = evaluate_source(open_source(args.ref, platforms=platforms), trust, require=require)
    else:
        from repro.registry import RegistryClient

        with RegistryClient(_load_config(args)) as client:
            result = evaluate_source(
                open_source(args.ref, client, platforms=platforms), trust, require=require
            )
    return result


def _add_attest_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    keygen = commands.add_parser(
        "keygen",
        help=command_help("keygen"),
        description="Create an ECDSA P-256 key pair: PREFIX.key (PKCS#8, encrypted with a passphrase "
        "from REPRO_KEY_PASSWORD or asked twice on the terminal; mode 0600) and PREFIX.pub. Refuses to "
        "overwrite either file. Prints the public key's path.",
    )
    keygen.add_argument(
        "prefix", nargs="?", default="repro", metavar="PREFIX", help="file name prefix (default: repro)"
    )
    keygen.add_argument("--json", action="store_true", help="print the paths and the key hint as JSON")
    keygen.set_defaults(handler=_cmd_keygen)

    verify_image = commands.add_parser(
        "verify-image",
        help=command_help("verify-image"),
        description="Find the Sigstore bundles attached to REF as OCI referrers (registry reference, "
        "oci:DIR[:TAG], or an image archive, oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]) and "
        "verify each: the signature (with --key, or keyless against the trusted root "
        "with the certificate identity and OIDC issuer), that it is an in-toto statement, and that its "
        "subject is the digest it is attached to. Exits 0 when every --require'd attestation (without "
        "--require: at least one) verified for REF, and for an index, for every image in it (or for the "
        "index itself); 21-27 say why not (see the README).",
    )
    verify_image.add_argument("ref", metavar="REF", help="image reference, oci:DIR[:TAG] or an archive")
    verify_image.add_argument(
        "--key", type=Path, metavar="PUB", help="trust bundles signed with this public key"
    )
    verify_image.add_argument(
        "--certificate-identity", metavar="ID", help="keyless: the signer's identity (e-mail or URI), exactly"
    )
    verify_image.add_argument(
        "--certificate-identity-regexp",
        metavar="RE",
        help="keyless: the signer's identity, as a full-match regexp",
    )
    verify_image.add_argument(
        "--certificate-oidc-issuer",
        metavar="URL",
        help="keyless: the OIDC issuer that vouched for the identity",
    )
    verify_image.add_argument(
        "--require",
        action="append",
        metavar="A[,A…]",
        help="attestations that must verify: provenance, sbom, reproducible, signature",
    )
    verify_image.add_argument(
        "--trusted-root",
        type=Path,
        metavar="FILE",
        help="a Sigstore trusted_root.json (default: Sigstore's public instance, via TUF); with --key, "
        "the bundles' transparency log entries are verified against its logs",
    )
    verify_image.add_argument(
        "--require-tlog",
        action="store_true",
        help="with --key: every bundle must carry a transparency log entry that verifies "
        "(keyless bundles always must)",
    )
    verify_image.add_argument(
        "--platform",
        metavar="P[,P…]",
        help="for an index: verify only the images of these platforms (each must be in it)",
    )
    verify_image.add_argument(
        "--json", action="store_true", help="print the result as JSON on stdout, also when it fails"
    )
    verify_image.set_defaults(handler=_cmd_verify_image)
