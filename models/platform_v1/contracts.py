"""The wire contracts of ``/api/v1`` besides the resource bodies (``schemas``): what each route answers
(``XPublic``, in list envelopes for lists) and the bodies of the workspace, settings and secret routes.

Every answer is camelCase as documented (``docs/api/platform-v1.md``) and times are ISO 8601 in UTC with six
decimals and ``Z`` (``iso_z``). A resource answers its body (the fields of its schema that are set), its id,
workspace, version, times and authors: ``public_model(spec)`` makes that model for each resource of the catalog
(``TicketPublic``, …), so a resource added to the catalog is documented by its spec alone.

The answers are built from trusted rows with ``model_construct`` (no second validation) and serialised once;
the resource reads answer their stored JSON directly and these models document them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, create_model

from models.common.base import iso_z
from models.platform_v1.catalog import RESOURCES
from models.platform_v1.resource_spec import ResourceSpec

#: A time as the API answers it: ``2026-05-13T08:00:00.000000Z``.
Timestamp = Annotated[datetime, PlainSerializer(iso_z, return_type=str),
                      WithJsonSchema({"type": "string", "format": "date-time"})]
#: Whether a settings object or a secret is the platform's or a workspace's.
ScopeName = Literal["platform", "workspace"]


# --- workspaces ------------------------------------------------------------------------------------

class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)


class WorkspacePublic(BaseModel):
    id: str = Field(description="`ws_` + 32 hex digits.")
    name: str
    createdAt: Timestamp
    createdBy: str | None


# --- settings and secrets --------------------------------------------------------------------------

class SettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(description="The whole settings object (it replaces the stored one).")


class SettingsPatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(description="A JSON merge patch (RFC 7386) of the settings object: a key "
                                                 "given replaces (objects merge key by key), `null` removes it, "
                                                 "a key not given is kept.")


class SettingsPublic(BaseModel):
    scope: ScopeName
    workspaceId: str | None = Field(description="The workspace of workspace settings; null for the platform's.")
    settings: dict[str, Any]
    version: int = Field(description="0 until the settings are first written; the ETag is this number quoted.")
    updatedAt: Timestamp | None
    updatedBy: str | None


class SecretBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=8192, description="The secret; never shown again.")


class SecretPublic(BaseModel):
    """A secret as lists show it: its key and who set it when, never its value."""

    key: str
    scope: ScopeName
    workspaceId: str | None
    createdAt: Timestamp
    createdBy: str | None
    updatedAt: Timestamp
    updatedBy: str | None


SecretAction = Literal["set", "rotated"]


class SecretWritten(SecretPublic):
    """The answer to setting a secret: ``set`` (201) the first time, ``rotated`` (200) after."""

    action: SecretAction


class CredentialEventPublic(BaseModel):
    """Who set or rotated which secret, and when (never a value)."""

    key: str
    scope: ScopeName
    workspaceId: str | None
    action: SecretAction
    actor: str
    at: Timestamp
    correlationId: str | None


# --- resources -------------------------------------------------------------------------------------

class FieldChange(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Any = Field(alias="from", description="The value before (null: the field was not set).")
    to: Any = Field(description="The value after (null: the field was removed).")


class AuditEntryPublic(BaseModel):
    """One change of a record."""

    action: Literal["create", "update", "patch", "delete"]
    actor: str
    at: Timestamp
    version: int = Field(description="The record's version after the change.")
    changes: dict[str, FieldChange] = Field(description="The top-level fields that changed.")
    correlationId: str | None


class ResourceFields(BaseModel):
    """What every record answers besides its body."""

    id: str = Field(description="The resource's prefix, `_` and 32 hex digits (`tkt_6f1c…`).")
    workspaceId: str
    version: int = Field(description="1 when created, one more with each change; the ETag is this number quoted.")
    createdAt: Timestamp
    updatedAt: Timestamp
    createdBy: str | None
    updatedBy: str | None


def _public(spec: ResourceSpec) -> type[BaseModel]:
    """``<Schema>Public``: a record of ``spec`` as the API answers it (its body's fields that are set, in the
    order they are stored, between its id and workspace and its version, times and authors)."""
    meta = ResourceFields.model_fields
    body = {name: (field.annotation, field) for name, field in spec.schema.model_fields.items()}
    fields: dict[str, Any] = {
        **{name: (meta[name].annotation, meta[name]) for name in ("id", "workspaceId")},
        **body,
        **{name: (meta[name].annotation, meta[name]) for name in ("version", "createdAt", "updatedAt", "createdBy",
                                                                  "updatedBy")}}
    return create_model(f"{spec.schema.__name__}Public", __doc__=f"A {spec.singular} as the API answers it.",
                        __module__=__name__, **fields)


#: ``<Schema>Public`` of every resource by name (``tickets`` → ``TicketPublic``).
RESOURCE_PUBLIC: dict[str, type[BaseModel]] = {spec.name: _public(spec) for spec in RESOURCES}


def public_model(spec: ResourceSpec) -> type[BaseModel]:
    return RESOURCE_PUBLIC[spec.name]
