"""Test helpers of the pipeline tests: a scripted HTTP endpoint on 127.0.0.1 standing in
for the app or for Shopify, and a way to store an event as ingest would."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from webhooks.models import WebhookEvent
from webhooks.store import insert_event


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Endpoint:
    """Answers each request with the next scripted Reply (the last one repeats)."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with endpoint.lock:
                    endpoint.seen.append(Seen(self.command, self.path, dict(self.headers), body, time.monotonic()))
                    reply = endpoint.replies.pop(0) if len(endpoint.replies) > 1 else endpoint.replies[0]
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        with self.lock:
            self.replies = list(replies)


@contextmanager
def endpoint(*replies: Reply) -> Iterator[Endpoint]:
    ep = Endpoint(list(replies) or [Reply()])
    thread = threading.Thread(target=ep.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ep
    finally:
        ep.server.shutdown()
        ep.server.server_close()


def store_event(topic: str, payload: dict[str, Any], *, shop: str = "demo-shop.myshopify.com", **extra: Any) -> WebhookEvent:
    webhook_id = extra.pop("webhook_id", None) or str(uuid.uuid4())
    headers = {
        "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop, "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-API-Version": "2025-10", "X-Shopify-Hmac-Sha256": "[redacted]",
    }
    pk = insert_event(
        provider="shopify", topic=topic, shop_domain=shop, webhook_id=webhook_id, api_version="2025-10",
        headers=headers, payload=json.loads(json.dumps(payload)), **extra,
    )
    assert pk is not None
    return WebhookEvent.objects.get(pk=pk)
