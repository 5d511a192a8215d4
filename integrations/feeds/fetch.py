"""Fetching a feed document over HTTP, bounded: its size, its redirects, and (in ``read_feed``) its time.

- The body is streamed and read up to ``max_bytes`` (``CAPSTAN_FEED_MAX_BYTES``): a declared or actual size
  over it stops the read at once, so a huge feed costs the worker at most the cap.
- Redirects are followed only within the feed URL's origin (scheme, host and port), at most
  ``MAX_REDIRECTS`` times: a feed host cannot point the worker at another host (an internal address, say)
  and have the answer stored and shown back through the API.

Every failure is a ``FeedReadError`` naming the source: the poll records it; no retry can change it.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from integrations.feeds.errors import FeedReadError, without_credentials
from models.maintenance.feed_config import FeedSourceConfig

ACCEPT = "application/json, application/atom+xml, application/rss+xml, application/xml, text/xml;q=0.9"
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class FeedDocument:
    body: bytes
    content_type: str


def origin(url: httpx.URL) -> str:
    """``scheme://host:port`` (no credentials, no path)."""
    port = url.port or _DEFAULT_PORTS.get(url.scheme)
    return f"{url.scheme}://{url.host}:{port}"


async def fetch_feed(source: FeedSourceConfig, http: httpx.AsyncClient, max_bytes: int) -> FeedDocument:
    try:
        url = httpx.URL(source.url)
        home = origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            async with http.stream("GET", url, headers={"accept": ACCEPT}, follow_redirects=False) as response:
                if response.is_redirect:
                    url = url.join(response.headers["location"])
                    if origin(url) != home:
                        raise FeedReadError(f"Feed {source.id} redirected to another origin ({origin(url)}); "
                                            f"redirects are followed only within {home}")
                    continue
                if not response.is_success:
                    raise FeedReadError(f"Feed {source.id} returned {response.status_code}",
                                        http_status=response.status_code)
                return FeedDocument(await _capped_body(source, response, max_bytes),
                                    response.headers.get("content-type", ""))
    except httpx.TimeoutException as exc:
        raise FeedReadError(f"Feed {source.id} did not answer in time ({type(exc).__name__})") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = without_credentials(str(exc)) or type(exc).__name__
        raise FeedReadError(f"Feed {source.id} could not be fetched: {reason}") from None
    raise FeedReadError(f"Feed {source.id} redirected more than {MAX_REDIRECTS} times")


def _too_large(source: FeedSourceConfig, max_bytes: int) -> FeedReadError:
    return FeedReadError(f"Feed {source.id} is larger than {max_bytes} bytes (CAPSTAN_FEED_MAX_BYTES); "
                         "reading stopped there")


async def _capped_body(source: FeedSourceConfig, response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(source, max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decoded: a compressed body is capped at its real size
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(source, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
