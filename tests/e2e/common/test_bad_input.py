"""Every client mistake is a clear 4xx in the one error shape, and changes nothing."""

from __future__ import annotations

import pytest

from capstan.settings import ApiSettings, Settings
from tests.support import assert_error


async def project_count(api) -> int:
    return len((await api.get("/projects")).json())


async def test_malformed_json_is_400(api):
    response = await api.post("/projects", content=b'{"name": "x",', headers={"content-type": "application/json"})
    assert_error(response, 400, "malformed_json")
    assert await project_count(api) == 0


@pytest.mark.parametrize("body, field", [
    ({"git_url": "/r"}, "body.name"),
    ({"name": 5, "git_url": "/r"}, "body.name"),
    ({"name": "x", "git_url": "/r", "default_models": "nope"}, "body.default_models"),
    ({"name": "x", "git_url": "/r", "base_branch": "--upload-pack=evil"}, "body.base_branch"),
    ({"name": "", "git_url": "/r"}, "body.name"),
])
async def test_wrong_fields_are_400_naming_the_field(api, body, field):
    error = assert_error(await api.post("/projects", json=body), 400, "validation_error")
    assert field in [f["field"] for f in error["fields"]]
    assert await project_count(api) == 0


async def test_a_json_array_body_is_400(api):
    assert_error(await api.post("/projects", json=[1, 2]), 400, "validation_error")


async def test_nul_byte_in_a_string_is_400(api):
    response = await api.post("/projects", json={"name": "bad\u0000name", "git_url": "/r"})
    assert_error(response, 400, "nul_byte")
    response = await api.post("/projects", json={"name": "ok", "git_url": "/r", "default_models": {"k\u0000": 1}})
    assert_error(response, 400, "nul_byte")
    assert await project_count(api) == 0


async def test_nul_byte_in_the_query_is_400(api):
    assert_error(await api.get("/events?project_id=1%00"), 400, "nul_byte")


async def test_two_mebibyte_body_is_413(api):
    huge = {"name": "x", "git_url": "/r", "default_models": {"blob": "a" * (2 * 1024 * 1024)}}
    assert_error(await api.post("/projects", json=huge), 413, "payload_too_large")
    assert await project_count(api) == 0


async def test_streamed_body_without_length_over_the_limit_is_413(settings, api_factory):
    small = Settings(**{**vars(settings), "api": ApiSettings(max_body_bytes=2048)})

    async def chunks():
        for _ in range(10):
            yield b"x" * 1024

    async with api_factory(small) as api:
        response = await api.post("/projects", content=chunks(), headers={"content-type": "application/json"})
        assert_error(response, 413)


async def test_unknown_ids_are_404(api):
    assert_error(await api.get("/projects/999999"), 404, "project_not_found")
    assert_error(await api.get("/projects/999999/protocols"), 404, "project_not_found")
    assert_error(await api.get("/protocols/999999"), 404, "protocol_run_not_found")
    assert_error(await api.get("/protocols/999999/events"), 404, "protocol_run_not_found")
    assert_error(await api.get("/events", params={"project_id": 999999}), 404, "project_not_found")


async def test_non_integer_ids_and_limits_are_400(api):
    assert_error(await api.get("/projects/abc"), 400, "validation_error")
    assert_error(await api.get("/events", params={"limit": "many"}), 400, "validation_error")
    assert_error(await api.get("/projects", params={"limit": 0}), 400, "validation_error")


async def test_unknown_route_and_method_are_4xx(api):
    assert_error(await api.get("/nope"), 404)
    assert_error(await api.delete("/projects"), 405)
