"""An Idempotency-Key's fingerprint: the same JSON body in another key order or spacing is the same request;
another value, array order, path or query string is another one; a key stored in an older form (the hash of
the body's bytes, or of path and body without the query) still matches its identical retry."""

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


def path_only_fingerprint(method: str, path: str, body: bytes) -> str:
    """The fingerprint as keys were stored before the query counted: the body's canonical JSON, no query."""
    return bytes_fingerprint(method, path, canonical_json(body))


def test_another_query_string_is_another_request():
    stored = fingerprint("POST", PATH, BODY, "dryRun=true")
    assert not RequestPrint("POST", PATH, BODY, "dryRun=false").matches(stored)
    assert not RequestPrint("POST", PATH, BODY).matches(stored)
    assert RequestPrint("POST", PATH, BODY, "dryRun=true").matches(stored)


def test_a_key_first_used_without_a_query_does_not_match_a_request_with_one():
    stored = fingerprint("POST", PATH, BODY)
    assert not RequestPrint("POST", PATH, BODY, "dryRun=true").matches(stored)
    assert not RequestPrint("POST", PATH, BODY, "dryRun=").matches(stored)


@pytest.mark.parametrize("same", ["b=2&a=1", "a=1&b=%32", "a=1&b=2"], ids=["order", "percent-encoded", "as sent"])
def test_the_same_query_in_another_order_or_encoding_is_the_same_request(same):
    assert RequestPrint("POST", PATH, BODY, same).matches(fingerprint("POST", PATH, BODY, "a=1&b=2"))


def test_a_key_stored_before_the_query_counted_still_matches_its_identical_retry():
    stored = path_only_fingerprint("POST", PATH, BODY)
    assert RequestPrint("POST", PATH, BODY).matches(stored)
    assert not RequestPrint("POST", PATH, BODY.replace(b'"Globex"', b'"Initech"')).matches(stored)
    assert not RequestPrint("POST", f"{PATH}/cli_1", BODY).matches(stored)
