"""A body over the limit, sent to a real uvicorn server by a client that writes the whole body
before it reads (Python's ``urllib``): it must read the 413, not a broken pipe or a reset."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import pytest
import uvicorn

from api.app import create_app
from api.common import middleware
from capstan.devstack.ports import free_port
from capstan.settings import ApiSettings, Settings

LIMIT = 64 * 1024


@contextlib.asynccontextmanager
async def served(settings: Settings, temporal_client) -> AsyncIterator[str]:
    port = free_port()
    app = create_app(Settings(**{**vars(settings), "api": ApiSettings(max_body_bytes=LIMIT)}),
                     temporal_client=temporal_client)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


def post(url: str, body: bytes, *, chunked: bool = False) -> tuple[int, dict]:
    """POST with urllib, which writes every byte of the body before it reads the answer."""
    headers = {"content-type": "application/json"}
    data: bytes | object = body
    if chunked:  # no Content-Length: urllib sends an iterable with Transfer-Encoding: chunked
        data = (body[i:i + 65536] for i in range(0, len(body), 65536))
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def big_project(size: int) -> bytes:
    return json.dumps({"name": "x", "git_url": "/r", "default_models": {"blob": "a" * size}}).encode()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_client_that_writes_the_whole_oversize_body_reads_the_413(settings, temporal_client, chunked):
    async with served(settings, temporal_client) as base:
        status, body = await asyncio.to_thread(post, f"{base}/projects", big_project(2 * 1024 * 1024),
                                               chunked=chunked)
        assert status == 413
        assert body["error"] == "payload_too_large" and set(body) == {"error", "detail", "request_id"}
        # The connection was left in order: the server still answers, and nothing was created.
        projects = await asyncio.to_thread(
            lambda: json.loads(urllib.request.urlopen(f"{base}/projects", timeout=10).read()))
        assert projects == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_the_discarded_rest_of_a_body_is_bounded_in_size(settings, temporal_client, monkeypatch, chunked):
    """Past the discard bound the server stops reading and closes: the client cannot hold it."""
    monkeypatch.setattr(middleware, "DISCARD_MAX_BYTES", 1024 * 1024)
    async with served(settings, temporal_client) as base:
        with pytest.raises((ConnectionError, urllib.error.URLError)):
            await asyncio.to_thread(post, f"{base}/projects", big_project(32 * 1024 * 1024), chunked=chunked)
        status, _ = await asyncio.to_thread(post, f"{base}/projects", big_project(512 * 1024))
        assert status == 413  # within the bound, and the server is still there for the next client


def stalled_upload(base: str) -> bytes:
    """Announce a body over the limit, send part of it, stop sending, and read what comes back."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /projects HTTP/1.1\r\nHost: capstan\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (4 * LIMIT) + b"a" * (2 * LIMIT))
        answer = b""
        while chunk := sock.recv(65536):  # headers and body may come in separate segments; the server closes
            answer += chunk
        return answer


async def test_a_client_that_stops_sending_gets_the_413_after_the_discard_time(settings, temporal_client,
                                                                                monkeypatch):
    monkeypatch.setattr(middleware, "DISCARD_MAX_SECONDS", 0.5)
    async with served(settings, temporal_client) as base:
        answer = await asyncio.to_thread(stalled_upload, base)
    assert answer.startswith(b"HTTP/1.1 413 ") and b'"payload_too_large"' in answer
