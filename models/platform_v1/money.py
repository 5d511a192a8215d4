"""Money and quantities, exact: ``Decimal`` in validation and arithmetic, never a binary float's rounding.

A JSON number the API reads is parsed as a ``Decimal`` (``capstan.strict_json.read_json(exact_decimals=True)``)
and validated as one: non-negative, bounded, at most ``MONEY_PLACES`` decimal places (``QUANTITY_PLACES``
for quantities), a number and never a string. Stored in a ``jsonb`` body (Postgres numbers there are
arbitrary-precision ``numeric``) and answered as a JSON number with the same value: ``10.50`` is kept and
answered as ``10.5``, ``1500.00`` as ``1500``.

Why a float still carries the number into the JSON text of a record: every value these bounds admit has at
most 15 significant digits, and such a decimal is exactly the shortest ``repr`` of the nearest double, so
``json.dumps`` writes its digits unchanged (``as_json_number`` checks it for every value it converts, and
``exact_json_numbers`` refuses any other number a body holds before it is validated). Arithmetic never uses
the float: read a stored amount with ``as_decimal`` and add with ``money_sum``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

MONEY_PLACES = 2
QUANTITY_PLACES = 4
MONEY_MAX = Decimal(10) ** 12
QUANTITY_MAX = Decimal(10) ** 9
#: More significant digits than a double's shortest repr always keeps.
EXACT_DIGITS = 15


class InexactNumber(ValueError):
    """A number with more significant digits than a body may carry exactly; ``path`` is where it is."""

    def __init__(self, path: str) -> None:
        super().__init__(f"more than {EXACT_DIGITS} significant digits")
        self.path = path


def as_json_number(value: Decimal) -> int | float:
    """``value`` as the JSON number with its digits: an int when whole, else the float whose repr they are."""
    if value == value.to_integral_value():
        return int(value)
    carried = float(value)
    if Decimal(repr(carried)) != value:
        raise InexactNumber("$")
    return carried


def exact_json_numbers(value: Any, path: tuple[str | int, ...] = ()) -> Any:
    """``value`` (parsed with ``Decimal`` numbers) with each number as ``as_json_number`` writes it, or
    ``InexactNumber`` at the path of the first number that would lose a digit (``10.0000000000000001``)."""
    if isinstance(value, Decimal):
        try:
            return as_json_number(value)
        except (InexactNumber, OverflowError, ValueError):
            raise InexactNumber(".".join(str(part) for part in path)) from None
    if isinstance(value, dict):
        return {key: exact_json_numbers(item, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [exact_json_numbers(item, (*path, index)) for index, item in enumerate(value)]
    return value


def as_decimal(stored: int | float | Decimal) -> Decimal:
    """A stored or answered amount as the ``Decimal`` it stands for (its JSON text's digits)."""
    if isinstance(stored, Decimal):
        return stored
    return Decimal(stored) if isinstance(stored, int) else Decimal(repr(stored))


def money_sum(amounts: Iterable[int | float | Decimal]) -> Decimal:
    """The exact sum of stored amounts (``0.1 + 0.2`` is ``0.3``)."""
    return sum((as_decimal(amount) for amount in amounts), Decimal(0))


def _a_number(value: Any) -> Any:
    """A JSON number as its ``Decimal``, never a string of one (``"1500"``) nor a flag."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a JSON number")
    return as_decimal(value)


def _exact(minimum: str, maximum: Decimal, places: int, what: str) -> Any:
    schema = {"type": "number", "maximum": float(maximum),
              "description": f"{what}: at most {places} decimal places, kept exactly."}
    schema["exclusiveMinimum" if minimum == "gt" else "minimum"] = 0
    bounds = Field(**{minimum: 0}, le=int(maximum), decimal_places=places, allow_inf_nan=False)
    return [BeforeValidator(_a_number), bounds,
            PlainSerializer(as_json_number, return_type=int | float, when_used="json"), WithJsonSchema(schema)]


#: An amount of money in its record's currency: 0 to 10^12, at most 2 decimal places.
Money = Annotated[Decimal, *_exact("ge", MONEY_MAX, MONEY_PLACES, "An amount of money")]
#: An amount of money that cannot be zero (a payment).
PositiveMoney = Annotated[Decimal, *_exact("gt", MONEY_MAX, MONEY_PLACES, "An amount of money, more than 0")]
#: A quantity of a quote line: more than 0, at most 10^9, at most 4 decimal places.
Quantity = Annotated[Decimal, *_exact("gt", QUANTITY_MAX, QUANTITY_PLACES, "A quantity, more than 0")]
