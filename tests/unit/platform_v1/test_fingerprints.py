"""An Idempotency-Key's fingerprint: the same JSON body in another key order or spacing is the same request;
another value, array order or path is another one; a key stored before fingerprints were canonical (the hash
of the body's bytes) still matches its identical retry."""

from __future__ import annotations

import hashlib

import pytest

from api.platform_v1.services.idempotency_keys import RequestPrint, canonical_json, fingerprint

PATH = "/api/v1/clients"
BODY = b'{"name": "Globex", "tags": ["vip", "msp"], "address": {"city": "Paris", "country": "FR"}}'


def bytes_fingerprint(method: str, path: str, body: bytes) -> str:
    """The fingerprint as keys were stored before it was canonical: sha256 of the length-prefixed parts."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@pytest.mark.parametrize("same", [
    b'{"tags":["vip","msp"],"address":{"country":"FR","city":"Paris"},"name":"Globex"}',
    b'{\n  "name" : "Globex",\n  "tags" : [ "vip", "msp" ],\n  "address" : { "city" : "Paris", "country" : "FR" }\n}',
    b'{"name": "\\u0047lobex", "tags": ["vip", "msp"], "address": {"city": "Paris", "country": "FR"}}',
], ids=["key order", "whitespace", "escaped"])
def test_the_same_json_in_another_form_is_the_same_request(same):
    assert fingerprint("POST", PATH, same) == fingerprint("POST", PATH, BODY)
    assert RequestPrint("POST", PATH, same).matches(fingerprint("POST", PATH, BODY))


@pytest.mark.parametrize("other", [
    b'{"name": "Initech", "tags": ["vip", "msp"], "address": {"city": "Paris", "country": "FR"}}',
    b'{"name": "Globex", "tags": ["msp", "vip"], "address": {"city": "Paris", "country": "FR"}}',
    b'{"name": "Globex", "tags": ["vip", "msp"], "address": {"city": "Paris"}}',
    b'{"name": "Globex", "tags": ["vip", "msp"], "address": {"city": "Paris", "country": "FR"}, "notes": null}',
], ids=["another value", "another array order", "a field less", "a null more"])
def test_another_body_is_another_request(other):
    assert not RequestPrint("POST", PATH, other).matches(fingerprint("POST", PATH, BODY))


def test_another_path_or_method_is_another_request():
    stored = fingerprint("PATCH", f"{PATH}/cli_1", BODY)
    assert not RequestPrint("PATCH", f"{PATH}/cli_2", BODY).matches(stored)
    assert not RequestPrint("PUT", f"{PATH}/cli_1", BODY).matches(stored)


def test_a_key_stored_as_the_body_bytes_still_matches_its_identical_retry():
    stored = bytes_fingerprint("POST", PATH, BODY)
    assert RequestPrint("POST", PATH, BODY).matches(stored)
    assert not RequestPrint("POST", PATH, BODY.replace(b'"Globex"', b'"Initech"')).matches(stored)


@pytest.mark.parametrize("body", [b"", b"{not json", b"\xff\xfe", b"[1, 2"])
def test_a_body_that_is_not_json_is_its_bytes(body):
    assert canonical_json(body) == body
    assert RequestPrint("POST", PATH, body).matches(fingerprint("POST", PATH, body))
