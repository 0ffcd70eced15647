#!/usr/bin/env python3
"""Signs CloudFront URLs and cookie values with botocore's CloudFrontSigner.

An independent signer for the verifier's cross-implementation tests. Reads a
JSON request on stdin:
  {"key_id", "key_path", "url", "expires", "resource", "date_greater_than", "ip_address", "backend"}
and writes JSON on stdout:
  {"canned_url", "custom_url", "custom_policy", "cookie_policy", "cookie_signature", "botocore"}
The RSA signer (PKCS#1 v1.5, SHA-1, as CloudFront's documentation shows) uses
the `cryptography` package when present (and "backend" is not "openssl"),
else `openssl dgst -sha1 -sign`.
"""
import datetime
import json
import subprocess
import sys

import botocore
from botocore.signers import CloudFrontSigner


def make_rsa_signer(key_path, backend):
    try:
        if backend == "openssl":
            raise ImportError("openssl backend requested")
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)

        def signer(message):
            return key.sign(message, padding.PKCS1v15(), hashes.SHA1())

        return signer, "cryptography"
    except ImportError:
        def signer(message):
            return subprocess.run(
                ["openssl", "dgst", "-sha1", "-sign", key_path],
                input=message, capture_output=True, check=True,
            ).stdout

        return signer, "openssl"


def main():
    req = json.load(sys.stdin)
    rsa_signer, backend = make_rsa_signer(req["key_path"], req.get("backend", ""))
    signer = CloudFrontSigner(req["key_id"], rsa_signer)
    utc = datetime.timezone.utc
    expires = datetime.datetime.fromtimestamp(req["expires"], tz=utc)
    dgt = None
    if req.get("date_greater_than"):
        dgt = datetime.datetime.fromtimestamp(req["date_greater_than"], tz=utc)
    out = {"botocore": botocore.__version__, "backend": backend}
    out["canned_url"] = signer.generate_presigned_url(req["url"], date_less_than=expires)
    policy = signer.build_policy(req["resource"], expires, date_greater_than=dgt,
                                 ip_address=req.get("ip_address") or None)
    out["custom_policy"] = policy
    out["custom_url"] = signer.generate_presigned_url(req["url"], policy=policy)
    # Cookies carry the same encoded policy and signature as a custom URL.
    encoded = policy.encode("utf8")
    out["cookie_policy"] = signer._url_b64encode(encoded).decode("utf8")
    out["cookie_signature"] = signer._url_b64encode(rsa_signer(encoded)).decode("utf8")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
