"""What every maintenance wire model shares."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

#: A record's timestamp: UTC ISO 8601 with milliseconds (``2026-11-25T07:02:46.358Z``), kept as the text stored.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"}, examples=["2026-11-25T07:02:46.358Z"])]


class WireModel(BaseModel):
    """camelCase on the wire (snake_case in Python). Keys the model does not name are kept as they came (records
    are returned as stored); the routes leave out every key a record does not hold."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, extra="allow")


#: A record in its wire shape, as Capstan stored it (or as ``models.maintenance.views`` built it).
StoredRecord = dict[str, Any]

E = TypeVar("E", bound=WireModel)


def stored_envelope(model: type[E], **fields: Any) -> E:
    """``model`` around records already in their wire shape, without validating them again: its record
    fields (``SerializeAsAny[XPublic]``) hold the dicts, which are serialised as they are. Only for records
    Capstan wrote or built itself."""
    return model.model_construct(**fields)
