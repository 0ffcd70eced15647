"""moto_server extended with CloudFront key-group semantics (a test server, not AWS).

moto 5.2 lacks UpdateKeyGroup and DeleteKeyGroup, ignores If-Match on key groups
and public keys, and deletes a public key that a key group still uses. This
launcher patches moto's CloudFront backend and response classes in-process with
CloudFront's documented behaviour, adds DynamoDB's per-item atomicity like every
moto server of the tests (motolauncher.py beside it), then runs the ordinary
moto server:

  * every create/update gives the resource a new ETag;
  * UpdateKeyGroup, DeleteKeyGroup and DeletePublicKey need If-Match: missing
    -> 400 InvalidIfMatchVersion, stale -> 412 PreconditionFailed;
  * a key group holds at most 5 public keys -> 400 TooManyPublicKeysInKeyGroup;
  * unknown public key ids -> 404 NoSuchPublicKey (GetPublicKey/DeletePublicKey),
    unknown key group ids -> 404 NoSuchResource, unknown keys in a group's
    Items -> 400 InvalidArgument;
  * deleting a public key still in a key group -> 409 PublicKeyInUse;
  * a repeated CallerReference -> 409 PublicKeyAlreadyExists; a repeated
    key group name -> 409 KeyGroupAlreadyExists.

It also patches moto 5.2's KMS Sign, which ignores MessageType and signs
every message as RAW (hashing a digest a second time), and signs with keys
that are disabled or pending deletion. With the patch, as KMS documents:

  * MessageType DIGEST signs the given digest as is (it must be as long as the
    signing algorithm's hash, else 400 ValidationException);
  * Sign with a key that is not Enabled -> 400 KMSInvalidStateException;
  * ScheduleKeyDeletion takes a key ARN as well as a key id (moto raises
    KeyError -> 500 for an ARN), and refuses a key already pending deletion
    with KMSInvalidStateException.

Usage: python3 launcher.py [-H 127.0.0.1] -p PORT  (same flags as moto_server)
"""

import sys
import threading

from moto.cloudfront import models, responses
from moto.cloudfront.exceptions import CloudFrontException
from moto.core.responses import ActionResult, EmptyResult

MAX_KEYS_PER_GROUP = 5
_lock = threading.RLock()


def _err(code, message):
    return CloudFrontException(code, message)


def _check_if_match(current_etag, if_match):
    if not if_match:
        raise _err("InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
    if if_match != current_etag:
        raise _err("PreconditionFailed", "The precondition given in one or more of the request header fields evaluated to false.")


def _new_etag():
    return models.random_id(length=14)


Backend = models.CloudFrontBackend


def _get_public_key(self, key_id):
    key = self.public_keys.get(key_id)
    if key is None:
        raise _err("NoSuchPublicKey", "The specified public key does not exist.")
    return key


def _get_key_group(self, group_id):
    group = self.key_groups.get(group_id)
    if group is None:
        raise _err("NoSuchResource", "A resource that you specified does not exist.")
    return group


def _validate_items(self, items):
    items = list(items or [])
    if len(items) > MAX_KEYS_PER_GROUP:
        raise _err("TooManyPublicKeysInKeyGroup", "The number of public keys in this key group is more than the maximum allowed.")
    if len(items) == 0:
        raise _err("InvalidArgument", "A key group must contain at least one public key.")
    for key_id in items:
        if key_id not in self.public_keys:
            raise _err("InvalidArgument", f"The public key {key_id} does not exist.")
    if len(set(items)) != len(items):
        raise _err("InvalidArgument", "A public key is listed more than once.")
    return items


_orig_create_public_key = Backend.create_public_key


def _create_public_key(self, caller_ref, name, encoded_key):
    with _lock:
        for key in self.public_keys.values():
            if key.caller_ref == caller_ref:
                raise _err("PublicKeyAlreadyExists", "The specified public key already exists.")
        return _orig_create_public_key(self, caller_ref=caller_ref, name=name, encoded_key=encoded_key)


def _delete_public_key(self, key_id, if_match=None):
    with _lock:
        key = _get_public_key(self, key_id)
        _check_if_match(key.etag, if_match)
        for group in self.key_groups.values():
            if key_id in group.items:
                raise _err("PublicKeyInUse", "The specified public key is in use.")
        del self.public_keys[key_id]


def _create_key_group(self, name, items):
    with _lock:
        for group in self.key_groups.values():
            if group.name == name:
                raise _err("KeyGroupAlreadyExists", "A key group with this name already exists.")
        items = _validate_items(self, items)
        group = models.KeyGroup(name=name, items=items)
        self.key_groups[group.id] = group
        return group


def _update_key_group(self, group_id, name, items, if_match):
    with _lock:
        group = _get_key_group(self, group_id)
        _check_if_match(group.etag, if_match)
        items = _validate_items(self, items)
        for other in self.key_groups.values():
            if other is not group and other.name == name:
                raise _err("KeyGroupAlreadyExists", "A key group with this name already exists.")
        group.name = name
        group.items = items
        group.etag = _new_etag()
        return group


def _delete_key_group(self, group_id, if_match):
    with _lock:
        group = _get_key_group(self, group_id)
        _check_if_match(group.etag, if_match)
        del self.key_groups[group_id]


Backend.get_public_key = _get_public_key
Backend.get_key_group = _get_key_group
Backend.create_public_key = _create_public_key
Backend.delete_public_key = _delete_public_key
Backend.create_key_group = _create_key_group
Backend.update_key_group = _update_key_group
Backend.delete_key_group = _delete_key_group

Response = responses.CloudFrontResponse


def _resp_delete_public_key(self):
    self.backend.delete_public_key(key_id=self._get_param("Id"), if_match=self._get_param("IfMatch"))
    return EmptyResult()


def _resp_update_key_group(self):
    group = self.backend.update_key_group(
        group_id=self._get_param("Id"),
        name=self._get_param("KeyGroupConfig.Name"),
        items=self._get_param("KeyGroupConfig.Items", []),
        if_match=self._get_param("IfMatch"),
    )
    return ActionResult({"KeyGroup": group, "ETag": group.etag})


def _resp_delete_key_group(self):
    self.backend.delete_key_group(group_id=self._get_param("Id"), if_match=self._get_param("IfMatch"))
    return EmptyResult()


Response.delete_public_key = _resp_delete_public_key
Response.update_key_group = _resp_update_key_group
Response.delete_key_group = _resp_delete_key_group


# --- KMS patch: Sign with MessageType DIGEST, and key state checks ---------

from cryptography.hazmat.primitives import hashes as _hashes
from cryptography.hazmat.primitives.asymmetric import ec as _ec
from cryptography.hazmat.primitives.asymmetric import padding as _padding
from cryptography.hazmat.primitives.asymmetric import utils as _asym_utils
from moto.core.exceptions import JsonRESTError
from moto.kms import models as kms_models
from moto.kms import responses as kms_responses
from moto.kms import utils as kms_utils
from moto.kms.exceptions import ValidationException as _KMSValidation

_DIGEST_HASHES = {
    "ECDSA_SHA_256": _hashes.SHA256,
    "ECDSA_SHA_384": _hashes.SHA384,
    "ECDSA_SHA_512": _hashes.SHA512,
    "RSASSA_PKCS1_V1_5_SHA_256": _hashes.SHA256,
    "RSASSA_PKCS1_V1_5_SHA_384": _hashes.SHA384,
    "RSASSA_PKCS1_V1_5_SHA_512": _hashes.SHA512,
    "RSASSA_PSS_SHA_256": _hashes.SHA256,
    "RSASSA_PSS_SHA_384": _hashes.SHA384,
    "RSASSA_PSS_SHA_512": _hashes.SHA512,
}


class KMSInvalidStateException(JsonRESTError):
    code = 400

    def __init__(self, message):
        super().__init__("KMSInvalidStateException", message)


def _sign_digest(private_key, digest, signing_algorithm):
    """Sign a precomputed digest with moto's key object (RSA or ECDSA)."""
    hash_cls = _DIGEST_HASHES.get(signing_algorithm)
    if hash_cls is None:
        raise _KMSValidation(f"Signing algorithm {signing_algorithm} does not support MessageType DIGEST")
    if len(digest) != hash_cls.digest_size:
        raise _KMSValidation(
            f"Digest is invalid length for algorithm {signing_algorithm}: got {len(digest)} bytes, want {hash_cls.digest_size}"
        )
    prehashed = _asym_utils.Prehashed(hash_cls())
    key = private_key.private_key
    if isinstance(private_key, kms_utils.RSAPrivateKey):
        if signing_algorithm.startswith("RSASSA_PSS"):
            pad = _padding.PSS(mgf=_padding.MGF1(hash_cls()), salt_length=_padding.PSS.MAX_LENGTH)
        else:
            pad = _padding.PKCS1v15()
        return key.sign(digest, pad, prehashed)
    return key.sign(digest, _ec.ECDSA(prehashed))


_orig_kms_sign = kms_models.KmsBackend.sign


def _kms_sign(self, key_id, message, signing_algorithm, message_type="RAW"):
    key = self.describe_key(key_id)
    if key.key_state != "Enabled":
        raise KMSInvalidStateException(f"{key.arn} is {key.key_state}.")
    if message_type != "DIGEST":
        return _orig_kms_sign(self, key_id=key_id, message=message, signing_algorithm=signing_algorithm)
    if key.key_usage != "SIGN_VERIFY" or signing_algorithm not in (key.signing_algorithms or []):
        # Let moto's own checks produce its usual errors.
        return _orig_kms_sign(self, key_id=key_id, message=message, signing_algorithm=signing_algorithm)
    return key.arn, _sign_digest(key.private_key, message, signing_algorithm), signing_algorithm


def _resp_kms_sign(self):
    import base64
    import json

    key_id = self._get_param("KeyId")
    message = self._get_param("Message")
    message_type = self._get_param("MessageType") or "RAW"
    signing_algorithm = self._get_param("SigningAlgorithm")
    self._validate_key_id(key_id)
    if isinstance(message, str):
        message = message.encode("utf-8")  # KmsResponse._get_param has base64-decoded it already
    if message == b"":
        raise _KMSValidation(
            "1 validation error detected: Value at 'Message' failed to satisfy constraint: Member must have length greater than or equal to 1"
        )
    if message_type not in ("RAW", "DIGEST"):
        raise _KMSValidation(f"MessageType {message_type} is not RAW or DIGEST")
    key_arn, signature, signing_algorithm = self.kms_backend.sign(
        key_id=key_id, message=message, signing_algorithm=signing_algorithm, message_type=message_type
    )
    return json.dumps(
        {"KeyId": key_arn, "Signature": base64.b64encode(signature).decode("utf-8"), "SigningAlgorithm": signing_algorithm}
    )


_orig_schedule_key_deletion = kms_models.KmsBackend.schedule_key_deletion


def _kms_schedule_key_deletion(self, key_id, pending_window_in_days):
    key_id = self.get_key_id(key_id)
    key = self.describe_key(key_id)
    if key.key_state == "PendingDeletion":
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.")
    return _orig_schedule_key_deletion(self, key_id, pending_window_in_days)


kms_models.KmsBackend.sign = _kms_sign
kms_models.KmsBackend.schedule_key_deletion = _kms_schedule_key_deletion
kms_responses.KmsResponse.sign = _resp_kms_sign


if __name__ == "__main__":
    # DynamoDB's per-item atomicity, as in every moto server cfgate's tests
    # start (internal/testutil/motoserver/launcher.py, written beside this file).
    import motolauncher

    motolauncher.install()
    from moto.server import main

    main(sys.argv[1:])
