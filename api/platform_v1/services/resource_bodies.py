"""A resource's body as the engine stores it: validated against its schema with JSON's types strictly, numbers
exact (money is never rounded through a binary float: ``models.platform_v1.money``), defaults filled in, whole
numbers as integers. 400 ``validation_error`` naming every bad field otherwise."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from api.common.errors import BadRequest
from models.platform_v1.money import InexactNumber, exact_json_numbers
from models.platform_v1.resource_spec import ResourceSpec


def _plain_numbers(value: Any) -> Any:
    """Whole floats as integers (``1500.0`` → ``1500``), so the stored body reads as it was sent and
    ``q=1500`` finds it (the search index has a number's JSON text)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(item) for item in value]
    return value


def validated_body(spec: ResourceSpec, body: Any) -> dict[str, Any]:
    """The body as the schema has it (defaults filled, JSON types), or 400 naming every bad field."""
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object: a {spec.singular}", code="validation_error")
    try:
        # Numbers as the exact JSON text of their digits (a body read with ``Decimal``s may hold one a float
        # cannot write, refused here rather than rounded), then JSON's types, strictly: a number is not "1500"
        # or true, a flag not "yes", a time not 1700000000.
        parsed = spec.schema.model_validate_json(json.dumps(exact_json_numbers(body)), strict=True)
    except InexactNumber as inexact:
        where = ".".join(["body", *([inexact.path] if inexact.path else [])])
        raise BadRequest(f"invalid {spec.singular}: {where}: {inexact}; a number is kept exactly or refused",
                         code="validation_error", extra={"fields": [
                             {"field": where, "message": str(inexact), "type": "inexact_number"}]}) from None
    except ValidationError as error:
        fields = [{"field": ".".join(["body", *(str(part) for part in item["loc"])]), "message": item["msg"],
                   "type": item["type"]} for item in error.errors(include_url=False, include_input=False)]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        raise BadRequest(f"invalid {spec.singular}: {summary}", code="validation_error", extra={"fields": fields}) \
            from None
    return _plain_numbers(parsed.model_dump(mode="json", exclude_none=True))
