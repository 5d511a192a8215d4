"""The strict JSON reader: what it refuses, where it says the problem is, and that what it accepts
is exactly what ``json.loads`` (FastAPI's parser) reads."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from capstan.strict_json import MAX_DEPTH, JsonRejected, check_value, nesting_depth, read_json


@pytest.mark.parametrize("body, code, path", [
    (b'{"template_config": {"a": [0, 1, 2, NaN]}}', "invalid_number", "$.template_config.a[3]"),
    (b'{"x": Infinity}', "invalid_number", "$.x"),
    (b'[-Infinity]', "invalid_number", "$[0]"),
    (b'{"x": 1e400}', "invalid_number", "$.x"),
    (b'{"x": -1e400}', "invalid_number", "$.x"),
    (b'{"x": 9223372036854775808}', "invalid_number", "$.x"),
    (b'{"x": -9223372036854775809}', "invalid_number", "$.x"),
    (b'{"x": 1' + b"0" * 5000 + b"}", "invalid_number", "$.x"),
    (b'{"a": {"b": "\\udc00"}}', "invalid_unicode", "$.a.b"),
    (b'{"a": ["ok", "\\ud83d"]}', "invalid_unicode", "$.a[1]"),
    (b'{"\\udc00": 1}', "invalid_unicode", '$["\\udc00"]'),
    (b'["\xed\xb3\x80"]', "invalid_unicode", "$"),  # a surrogate encoded as (invalid) UTF-8
    (b'{"a": "\xff"}', "invalid_unicode", "$"),
    (b'{"a b": {"c": "x\\u0000y"}}', "nul_byte", '$["a b"].c'),
    (b'{"k\\u0000": 1}', "nul_byte", '$["k\\u0000"]'),
    (b'{"a": "x\x00"}', "nul_byte", "$"),
    (b'{"a": 1,', "malformed_json", "$"),
    (b"\xef\xbb\xbf{}", "malformed_json", "$"),  # a BOM
])
def test_refused_bodies_name_the_rule_and_the_path(body, code, path):
    with pytest.raises(JsonRejected) as refused:
        read_json(body)
    assert (refused.value.code, refused.value.path) == (code, path)
    assert path in refused.value.detail


def test_nesting_is_limited_before_parsing_with_the_path_of_the_deepest_container():
    assert read_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    with pytest.raises(JsonRejected) as refused:
        read_json(b'{"a": [{"b": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}]}")
    assert refused.value.code == "json_too_deep"
    assert refused.value.path.startswith('$.a[0].b[0][0]')
    # Far deeper than the interpreter's recursion limit: refused by the scan, nothing recursed.
    for hostile in (b"[" * 1_000_000, b'{"a":' * 200_000):
        with pytest.raises(JsonRejected) as refused:
            read_json(hostile)
        assert refused.value.code == "json_too_deep"


def test_brackets_inside_strings_are_not_nesting():
    text = '{"a": "[[[[{{{{\\"[[[", "b": ["]]]]"]}'
    assert nesting_depth(text) == 2
    assert read_json(("[" + json.dumps("[" * 1000) + "]").encode()) == ["[" * 1000]


@pytest.mark.parametrize("body", [
    b'{"name": "x", "n": [1, -2, 3.5, 1e300, -0.0, 9223372036854775807, -9223372036854775808]}',
    b'{"emoji": "\\ud83d\\ude00", "escaped": "\\\\u0000 and \\\\udc00 are text here", "e": "\xc3\xa9"}',
    b'  [true, false, null, {"": {}}, []]  ',
    b'"just a string"',
])
def test_what_it_accepts_is_what_json_loads_reads(body):
    assert read_json(body) == json.loads(body)
    assert json.dumps(read_json(body)) == json.dumps(json.loads(body))


def test_a_megabyte_of_small_containers_reads_in_well_under_a_second():
    body = b"[" + b",".join([b'{"k": [1, "\\ud83d\\ude00"]}'] * 30_000) + b"]"
    assert len(body) > 700_000
    started = time.perf_counter()
    read_json(body)
    assert time.perf_counter() - started < 1.0


def test_parsed_documents_are_held_to_the_same_rules():
    assert check_value(yaml.safe_load("a: [1, 2.5, x]")) == {"a": [1, 2.5, "x"]}
    for document, code in [("a: .nan", "invalid_number"), ("a: [.inf]", "invalid_number"),
                           ('a: "\\udc00"', "invalid_unicode"), ("a: 99999999999999999999", "invalid_number"),
                           ("a: " + "[" * 70 + "]" * 70, "json_too_deep"), ("{1: x}", "invalid_key")]:
        with pytest.raises(JsonRejected) as refused:
            check_value(yaml.safe_load(document))
        assert refused.value.code == code, document
    # YAML aliases share containers: walked once, not once per reference.
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    started = time.perf_counter()
    check_value(yaml.safe_load(laughs))
    assert time.perf_counter() - started < 1.0
