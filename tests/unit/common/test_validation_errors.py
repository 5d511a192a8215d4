"""The 400 a client gets for a body FastAPI could not read names the field, and says what to send when the
body was not sent as JSON (``curl -d`` sends a form unless told otherwise)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from api.common.errors import install_error_handlers


class Note(BaseModel):
    text: str


@pytest.fixture
async def client():
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/notes")
    async def create_note(note: Note) -> Note:
        return note

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http


async def test_a_form_encoded_body_is_400_saying_to_send_json(client):
    answer = await client.post("/notes", content=b'{"text": "hi"}',
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "validation_error"
    assert "sent as application/x-www-form-urlencoded" in answer.json()["detail"]
    assert "Content-Type: application/json" in answer.json()["detail"]


async def test_a_json_body_missing_a_field_names_it_without_the_content_type_hint(client):
    answer = await client.post("/notes", json={"other": 1})
    assert answer.status_code == 400
    assert answer.json()["fields"][0]["field"] == "body.text"
    assert "Content-Type" not in answer.json()["detail"]


async def test_a_json_body_that_is_not_an_object_gets_no_content_type_hint(client):
    answer = await client.post("/notes", json=[1, 2])
    assert answer.status_code == 400
    assert "Content-Type" not in answer.json()["detail"]
