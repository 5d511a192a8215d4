"""Webhook deliveries of the fake GitHub (tests/fakes/github.py): what a GitHub App's webhook gets.

When a webhook is configured (``FakeGitHub(webhook_url=..., webhook_secret=...)`` or
``configure_webhook``), a comment created through the REST API (``POST
/repos/{o}/{r}/issues/{n}/comments``) is delivered as an ``issue_comment`` event to the webhook URL, the
way GitHub delivers it:

- ``POST <url>`` with the JSON payload (``action: created``, ``issue``, ``comment``, ``repository``,
  ``sender``, ``installation``) and the headers ``X-GitHub-Event: issue_comment``, ``X-GitHub-Delivery:
  <uuid>``, ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`` (and the older
  ``X-Hub-Signature: sha1=…``) when there is a secret, ``X-GitHub-Hook-Installation-Target-Type:
  integration``, ``User-Agent: GitHub-Hookshot/fake``;
- only for repositories an installation of the App covers (GitHub sends an App nothing else): the
  delivery is recorded as skipped otherwise;
- comments made with an installation token (the App's own, author ``<slug>[bot]``, type ``Bot``) are
  delivered only with ``deliver_bot_comments``, and then with that Bot as ``sender`` and comment user;
- one at a time, in order, from a thread of their own: the REST call that made the comment does not
  wait for the receiver (the receiver may be the very client that made it).

Each delivery is recorded (``FakeGitHub.deliveries()``) with the receiver's answer, and can be sent
again with the same delivery id (``redeliver``), as GitHub's "Redeliver" button does.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import json
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.github_records import now_iso

#: How much of a receiver's answer a delivery keeps.
RESPONSE_LIMIT = 4000
DELIVERY_TIMEOUT = 30.0


def hub_signature_256(secret: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``body``: GitHub's ``X-Hub-Signature-256``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class WebhookConfig:
    url: str
    secret: str | None = None
    deliver_bot_comments: bool = False


@dataclass
class Delivery:
    """One delivery attempt of an event, and what the receiver answered."""

    id: str                          # X-GitHub-Delivery
    event: str
    action: str
    repo: str
    issue: int
    comment_id: int
    sender: str
    sender_type: str
    url: str
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict)
    redelivery: bool = False
    created_at: str = field(default_factory=now_iso)
    delivered_at: str | None = None
    #: The receiver's HTTP status; None while pending, when it was not reached, or when skipped.
    status: int | None = None
    #: The receiver's answer (its JSON, else its text, cut at RESPONSE_LIMIT characters).
    response: Any = None
    error: str | None = None
    #: Why nothing was sent (no installation covers the repository).
    skipped: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    def json(self) -> dict[str, Any]:
        """The record as the demo's ``/_demo/deliveries`` shows it (no body, no signature)."""
        return {"id": self.id, "event": self.event, "action": self.action, "repo": self.repo, "issue": self.issue,
                "commentId": self.comment_id, "sender": self.sender, "senderType": self.sender_type,
                "url": self.url, "redelivery": self.redelivery, "createdAt": self.created_at,
                "deliveredAt": self.delivered_at, "status": self.status, "response": self.response,
                "error": self.error, "skipped": self.skipped}


class WebhookSender:
    """Sends deliveries one at a time from a daemon thread; ``close`` stops it."""

    def __init__(self, config: WebhookConfig, app_id: str,
                 on_delivered: Callable[[Delivery], None] | None = None) -> None:
        """``on_delivered`` is called (in the sending thread) after each delivery, or when one is skipped."""
        self.config = config
        self.app_id = app_id
        self.on_delivered = on_delivered
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    # --- what the fake calls ---

    def submit(self, *, event: str, payload: dict[str, Any], repo: str, issue: int, comment_id: int,
               sender: str, sender_type: str) -> Delivery:
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery = Delivery(id=str(uuid.uuid4()), event=event, action=str(payload.get("action")), repo=repo,
                            issue=issue, comment_id=comment_id, sender=sender, sender_type=sender_type,
                            url=self.config.url, body=body)
        delivery.headers = self._headers(delivery)
        return self._enqueue(delivery)

    def skip(self, *, event: str, action: str, repo: str, issue: int, comment_id: int, sender: str,
             sender_type: str, reason: str) -> Delivery:
        delivery = Delivery(id=str(uuid.uuid4()), event=event, action=action, repo=repo, issue=issue,
                            comment_id=comment_id, sender=sender, sender_type=sender_type, url=self.config.url,
                            body=b"{}", skipped=reason)
        delivery.done.set()
        with self._lock:
            self._deliveries.append(delivery)
        if self.on_delivered is not None:
            self.on_delivered(delivery)
        return delivery

    def redeliver(self, delivery_id: str) -> Delivery | None:
        """Send a recorded delivery again: same id, same body, signed again (None: unknown or skipped)."""
        with self._lock:
            original = next((d for d in self._deliveries if d.id == delivery_id and d.skipped is None), None)
        if original is None:
            return None
        again = Delivery(id=original.id, event=original.event, action=original.action, repo=original.repo,
                         issue=original.issue, comment_id=original.comment_id, sender=original.sender,
                         sender_type=original.sender_type, url=self.config.url, body=original.body,
                         redelivery=True)
        again.headers = self._headers(again)
        return self._enqueue(again)

    def deliveries(self) -> list[Delivery]:
        """Every delivery so far, oldest first (copies as of now; ``done`` is shared, to wait on)."""
        with self._lock:
            return [dataclasses.replace(delivery, headers=dict(delivery.headers),
                                        response=copy.deepcopy(delivery.response)) for delivery in self._deliveries]

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=DELIVERY_TIMEOUT + 5)
            self._thread = None

    # --- the sending thread ---

    def _headers(self, delivery: Delivery) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/fake",
                   "X-GitHub-Event": delivery.event, "X-GitHub-Delivery": delivery.id, "X-GitHub-Hook-ID": "1",
                   "X-GitHub-Hook-Installation-Target-Type": "integration",
                   "X-GitHub-Hook-Installation-Target-ID": self.app_id}
        if self.config.secret:
            headers["X-Hub-Signature-256"] = hub_signature_256(self.config.secret, delivery.body)
            headers["X-Hub-Signature"] = "sha1=" + hmac.new(self.config.secret.encode(), delivery.body,
                                                            hashlib.sha1).hexdigest()
        return headers

    def _enqueue(self, delivery: Delivery) -> Delivery:
        with self._lock:
            self._deliveries.append(delivery)
            if self._thread is None:
                self._thread = threading.Thread(target=self._send_all, name="fake-github-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(delivery)
        return delivery

    def _send_all(self) -> None:
        with httpx.Client(timeout=DELIVERY_TIMEOUT) as client:
            while (delivery := self._queue.get()) is not None:
                try:
                    self._send(client, delivery)
                finally:
                    delivery.done.set()
                if self.on_delivered is not None:
                    self.on_delivered(delivery)

    def _send(self, client: httpx.Client, delivery: Delivery) -> None:
        try:
            response = client.post(delivery.url, content=delivery.body, headers=delivery.headers)
        except httpx.HTTPError as exc:
            with self._lock:
                delivery.error = f"{type(exc).__name__}: {exc}"
                delivery.delivered_at = now_iso()
            return
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text[:RESPONSE_LIMIT]
        with self._lock:
            delivery.status = response.status_code
            delivery.response = answer
            delivery.delivered_at = now_iso()
