"""List plumbing every surface shares: sortBy/sortOrder with a per-list whitelist, and platform v1's
``{data, page, sort, filters}`` envelope."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy.dialects import postgresql
from sqlmodel import col, select

from api.common.errors import install_error_handlers
from api.common.pagination import Limit, ListPage, Offset, Sort, SortFields, SortOrder, list_page, page_of
from models.protocols.protocol import ProtocolRun

RUN_SORT = SortFields({"id": col(ProtocolRun.id), "created_at": col(ProtocolRun.created_at),
                       "protocol_name": col(ProtocolRun.protocol_name)}, default_by="id")


def sql(query) -> str:
    return str(query.compile(dialect=postgresql.dialect()))


@pytest.fixture
async def client():
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/items")
    async def items(sort: Annotated[Sort, Depends(RUN_SORT.dependency())], limit: Limit = 10,
                    offset: Offset = 0) -> ListPage[int]:
        return list_page([1, 2], limit=limit, offset=offset, total=2, sort=sort, filters={"status": None})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http


async def test_the_envelope_carries_the_page_and_the_sort_used(client):
    response = await client.get("/items", params={"sortBy": "created_at", "sortOrder": "desc", "limit": 2})
    assert response.status_code == 200
    assert response.json() == {"data": [1, 2], "page": {"limit": 2, "offset": 0, "returned": 2, "total": 2},
                               "sort": {"by": "created_at", "order": "desc"}, "filters": {}}


async def test_without_sort_parameters_the_list_default_applies(client):
    assert (await client.get("/items")).json()["sort"] == {"by": "id", "order": "asc"}


async def test_an_unknown_sort_field_is_400_naming_the_allowed_ones(client):
    response = await client.get("/items", params={"sortBy": "secrets"})
    body = response.json()
    assert response.status_code == 400 and body["error"] == "invalid_sort"
    assert "created_at, id, protocol_name" in body["detail"] and "request_id" in body


async def test_an_unknown_sort_order_is_400(client):
    response = await client.get("/items", params={"sortOrder": "sideways"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_sort")


def test_the_sort_orders_the_query_with_a_stable_tiebreak():
    query = RUN_SORT.apply(select(ProtocolRun), RUN_SORT.parse("protocol_name", "desc"), col(ProtocolRun.id))
    assert "ORDER BY protocol_runs.protocol_name DESC, protocol_runs.id" in sql(page_of(query, 5, 10))
    assert "LIMIT" in sql(page_of(query, 5, 10)) and "OFFSET" in sql(page_of(query, 5, 10))


def test_a_default_outside_the_whitelist_is_a_programming_error():
    with pytest.raises(ValueError, match="not one of"):
        SortFields({"id": col(ProtocolRun.id)}, default_by="name")


def test_the_envelope_keeps_only_filters_that_were_set():
    page = list_page(["a"], limit=50, offset=0, filters={"status": "running", "project_id": None})
    assert page.model_dump(mode="json") == {"data": ["a"], "page": {"limit": 50, "offset": 0, "returned": 1,
                                                                    "total": None},
                                            "sort": None, "filters": {"status": "running"}}
    assert SortOrder("desc") is SortOrder.DESC
