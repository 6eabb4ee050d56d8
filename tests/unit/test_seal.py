"""The seal on graphops' own queue messages: what it covers, how it is written, keys and their rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from graphops.common.errors import Rejected
from graphops.storage.seal import INTERNAL_FIELDS, MIN_KEY_BYTES, Seal, is_internal

KEY = b"k" * MIN_KEY_BYTES
OLD = b"o" * MIN_KEY_BYTES
MESSAGE = '{"v": 3, "trackingId": "t-1", "note": "café", "a": [1, 2]}'


def test_the_seal_is_an_hmac_sha256_of_the_canonical_message_in_unpadded_base64url() -> None:
    sealed = Seal(KEY).seal(MESSAGE)
    # The message as written: compact, non-ASCII kept as it is, the seal last.
    assert sealed.startswith('{"v":3,"trackingId":"t-1","note":"café","a":[1,2],"seal":"')
    # Its seal: keys sorted, no spaces, ASCII escapes, whatever the message's own spacing and order.
    canonical = b'{"a":[1,2],"note":"caf\\u00e9","trackingId":"t-1","v":3}'
    digest = hmac.new(KEY, canonical, hashlib.sha256).digest()
    assert json.loads(sealed)["seal"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert "=" not in json.loads(sealed)["seal"]


def test_sealing_again_replaces_the_seal_and_opening_gives_the_message_back() -> None:
    seal = Seal(KEY)
    once = seal.seal(MESSAGE)
    assert seal.seal(once) == once
    assert seal.open(json.loads(once)) == json.loads(MESSAGE)


def test_a_seal_does_not_depend_on_spacing_or_key_order() -> None:
    seal = Seal(KEY)
    sealed = json.loads(seal.seal(MESSAGE))
    reordered = {"seal": sealed["seal"], "a": [1, 2], "v": 3, "note": "café", "trackingId": "t-1"}
    assert seal.open(reordered) == json.loads(MESSAGE)


def test_a_changed_or_foreign_message_is_rejected() -> None:
    seal = Seal(KEY)
    sealed = json.loads(seal.seal(MESSAGE))
    for forged in ({**sealed, "v": 4}, {**sealed, "extra": 1}, json.loads(Seal(OLD).seal(MESSAGE))):
        with pytest.raises(Rejected) as rejected:
            seal.open(forged)
        assert rejected.value.field == "seal"
        assert rejected.value.problem == (
            "does not match: the message was not written by this graphops, or was changed"
        )


def test_a_message_claiming_to_be_internal_without_a_seal_names_the_fields_it_may_not_set() -> None:
    with pytest.raises(Rejected) as rejected:
        Seal(KEY).open({"v": 3, "trackingId": "t-1", "operationUrl": "https://graph.microsoft.com/x"})
    assert rejected.value.field == "seal"
    assert rejected.value.problem == "missing: trackingId, v may be set by graphops only, in messages it seals"


def test_while_a_key_is_rotated_messages_sealed_with_either_open() -> None:
    rotating = Seal(KEY, previous=OLD)
    for key in (KEY, OLD):
        assert rotating.open(json.loads(Seal(key).seal(MESSAGE))) == json.loads(MESSAGE)
    assert json.loads(rotating.seal(MESSAGE))["seal"] == json.loads(Seal(KEY).seal(MESSAGE))["seal"]  # the new key
    with pytest.raises(Rejected):
        rotating.open(json.loads(Seal(b"x" * MIN_KEY_BYTES).seal(MESSAGE)))


def test_keys_shorter_than_32_bytes_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^the key must be at least 32 bytes$"):
        Seal(b"k" * (MIN_KEY_BYTES - 1))
    with pytest.raises(ValueError, match=r"^the previous must be at least 32 bytes$"):
        Seal(KEY, previous=b"o" * (MIN_KEY_BYTES - 1))
    assert Seal(KEY, previous=OLD).previous == OLD


def test_internal_messages_are_those_with_any_field_only_graphops_writes() -> None:
    assert {"v", "trackingId", "startAttempts", "notBefore", "seal"} == INTERNAL_FIELDS
    assert all(is_internal({name: 1}) for name in INTERNAL_FIELDS)
    assert not is_internal({"operationUrl": "https://graph.microsoft.com/x", "callbackUrl": "https://x"})
