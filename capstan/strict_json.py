"""The one JSON reader of every body Capstan accepts (request bodies, webhook payloads, CodeMachine
workspace configs; ``check_value`` holds an already-parsed YAML document to the same rules).

It accepts a subset of what ``json.loads`` accepts and, for what it accepts,
returns exactly what ``json.loads`` returns, so a later ``json.loads`` of the same
bytes (FastAPI's own body parsing) can never disagree with it. It rejects, with
the JSON path of the offending value:

- text that is not UTF-8, and NUL bytes anywhere (raw or ``\\u0000``);
- nesting deeper than ``MAX_DEPTH``, measured by a linear scan before any
  parser recursion can start;
- ``NaN``/``Infinity``/``-Infinity``, floats that overflow to infinity
  (``1e400``) and integers outside a signed 64-bit integer (no column holds more);
- lone UTF-16 surrogates (``\\udc00``) in strings and keys: Postgres, UTF-8
  encoders and the Temporal data converter all refuse them.
"""

from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate, count
from typing import Any

MAX_DEPTH = 64
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: Longest integer literal worth converting: beyond it the value is out of range anyway
#: (and ``int()`` of thousands of digits is slow, or refused above 4300 digits).
_MAX_INT_DIGITS = len(str(INT_MIN))

# A JSON string (an unterminated one runs to the end), or one structural character.
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"?'
_STRINGS = re.compile(_STRING, re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_TOKENS = re.compile(rf"{_STRING}|[\[\]{{}},:]", re.DOTALL)
#: Openers count 2 and closers 0, so prefix sums minus the position give the depth.
_LEVELS = str.maketrans({"[": "\x02", "{": "\x02", "]": "\x00", "}": "\x00"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A code point in the surrogate range: in a ``str`` only from a lone ``\\udXXX`` escape.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SUSPICIOUS_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class JsonRejected(ValueError):
    """A body the strict reader refuses: ``code`` names the rule, ``path`` the value."""

    def __init__(self, code: str, message: str, path: str = "$",
                 decode_error: json.JSONDecodeError | None = None) -> None:
        super().__init__(f"{message} at {path}")
        self.code, self.message, self.path = code, message, path
        self.decode_error = decode_error  # the parser's own error, for ``malformed_json``

    @property
    def detail(self) -> str:
        return str(self)


@dataclass(frozen=True)
class _Refused:
    """Stands in for a number the parser hooks refused, until the walk finds its path."""

    literal: str
    reason: str


def read_json(data: bytes | str, *, max_depth: int = MAX_DEPTH, exact_decimals: bool = False) -> Any:
    """Parse ``data`` strictly; ``JsonRejected`` says why and where it was refused. With ``exact_decimals``, a
    number with a fraction or an exponent is the ``Decimal`` of its digits (``10.50``), not the nearest float:
    what money needs (the same numbers are refused either way)."""
    text = _utf8(data)
    if "\x00" in text:
        raise JsonRejected("nul_byte", f"NUL byte at offset {text.index(chr(0))}")
    _check_depth(text, max_depth)
    hooks = _NumberHooks(exact_decimals)
    try:
        value = json.loads(text, parse_constant=hooks.constant, parse_float=hooks.floating, parse_int=hooks.integer)
    except json.JSONDecodeError as exc:
        raise JsonRejected("malformed_json", f"malformed JSON: {exc.msg} (line {exc.lineno}, "
                                             f"column {exc.colno})", decode_error=exc) from None
    # NULs and surrogates can only come from escapes once the text is valid UTF-8 without NULs.
    if hooks.refused or _SUSPICIOUS_ESCAPE.search(text):
        _check_values(value)
    return value


def check_value(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """Hold an already-parsed value (a YAML document, say) to the reader's rules. Shared containers
    (YAML aliases) are walked once."""
    seen: set[int] = set()
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise JsonRejected("json_too_deep", f"nesting deeper than {max_depth} levels")
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        raise JsonRejected("invalid_key", f"object key {key!r} is not a string")
                    _check_string(key, "$", is_key=True)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise JsonRejected("invalid_number", f"{item} is not a number JSON allows")
        elif isinstance(item, int) and not isinstance(item, bool) and not INT_MIN <= item <= INT_MAX:
            raise JsonRejected("invalid_number", "integer out of range (signed 64-bit)")
        elif isinstance(item, str):
            _check_string(item, "$")
    return value


def _utf8(data: bytes | str) -> str:
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise JsonRejected("invalid_unicode", f"lone surrogate at offset {exc.start}") from None
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRejected("invalid_unicode", f"body is not UTF-8 (byte offset {exc.start})") from None


# --- depth ----------------------------------------------------------------------------------------

def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects outside strings, without recursion (linear, in C)."""
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    levels = brackets.translate(_LEVELS).encode("latin-1")
    return max(map(operator.sub, accumulate(levels), count(1)), default=0)


def _check_depth(text: str, max_depth: int) -> None:
    if nesting_depth(text) <= max_depth:
        return
    path = _path_beyond(text, max_depth) or "$"
    raise JsonRejected("json_too_deep", f"nesting deeper than {max_depth} levels", path)


def _path_beyond(text: str, max_depth: int) -> str | None:
    """The path of the first container deeper than ``max_depth`` (slow scan; only for the error)."""
    frames: list[list[Any]] = []  # [opener, key or index]
    last_string = ""
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            if len(frames) == max_depth:
                return "$" + "".join(_segment(kind, at) for kind, at in frames)
            frames.append([token, 0 if token == "[" else None])
        elif token in "]}":
            if frames:
                frames.pop()
        elif token == ",":
            if frames and frames[-1][0] == "[":
                frames[-1][1] += 1
        elif token == ":":
            if frames and frames[-1][0] == "{":
                frames[-1][1] = _decoded_key(last_string)
        else:
            last_string = token
    return None


def _decoded_key(token: str) -> str:
    try:
        return json.loads(token)
    except ValueError:
        return token.strip('"')


# --- values ---------------------------------------------------------------------------------------

class _NumberHooks:
    """``json.loads`` hooks: refused numbers become ``_Refused`` markers, found later by the walk."""

    def __init__(self, exact_decimals: bool = False) -> None:
        self.refused = False
        self.exact_decimals = exact_decimals

    def _refuse(self, literal: str, reason: str) -> _Refused:
        self.refused = True
        return _Refused(literal, reason)

    def constant(self, literal: str) -> _Refused:
        return self._refuse(literal, f"{literal} is not a number JSON allows")

    def floating(self, literal: str) -> float | Decimal | _Refused:
        value = float(literal)
        if not math.isfinite(value):
            return self._refuse(literal, "number out of range")
        return Decimal(literal) if self.exact_decimals else value

    def integer(self, literal: str) -> int | _Refused:
        if len(literal) <= _MAX_INT_DIGITS:
            value = int(literal)
            if INT_MIN <= value <= INT_MAX:
                return value
        shown = literal if len(literal) <= 30 else f"{literal[:12]}…({len(literal)} digits)"
        return self._refuse(shown, f"integer {shown} out of range (signed 64-bit)")


def _check_values(value: Any) -> None:
    """Find a refused number or a bad string; the path is worked out only for the error."""
    if _first_offence(value) is not None:
        _raise_with_path(value)


def _is_bad_string(text: str) -> bool:
    return "\x00" in text or _SURROGATE.search(text) is not None


def _first_offence(value: Any) -> Any:
    """A fast walk (no paths): the first refused number or bad string or key, else ``None``."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            bad_key = next((key for key in item if _is_bad_string(key)), None)
            if bad_key is not None:
                return bad_key
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is _Refused or (kind is str and _is_bad_string(item)):
            return item
    return None


def _raise_with_path(value: Any) -> None:
    """Walk again with paths, in document order, and raise for the first offence."""
    pending: list[tuple[Any, str]] = [(value, "$")]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            _check_string(item, path)
        elif isinstance(item, _Refused):
            raise JsonRejected("invalid_number", item.reason, path)
        elif isinstance(item, dict):
            for key in item:
                _check_string(key, path + _segment("{", key), is_key=True)
            pending.extend(reversed([(child, path + _segment("{", key)) for key, child in item.items()]))
        elif isinstance(item, list):
            pending.extend(reversed([(child, f"{path}[{index}]") for index, child in enumerate(item)]))


def _check_string(text: str, path: str, *, is_key: bool = False) -> None:
    what = "key" if is_key else "string"
    if "\x00" in text:
        raise JsonRejected("nul_byte", f"NUL byte in a {what}", path)
    if _SURROGATE.search(text):
        raise JsonRejected("invalid_unicode", f"lone UTF-16 surrogate in a {what} "
                                              f"({json.dumps(text[:40])})", path)


def _segment(kind: str, at: Any) -> str:
    if kind == "[":
        return f"[{at}]"
    if at is None:
        return ""
    return f".{at}" if _IDENTIFIER.match(at) else f"[{json.dumps(at)}]"
