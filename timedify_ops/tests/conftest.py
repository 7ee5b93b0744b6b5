"""Fixtures for the ops jobs: seeded events and dead letters, a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from deadletters.models import DeadLetter
from timedify_ops.models import JobRun
from webhooks.models import EventAttempt, EventStatus, WebhookEvent


def make_event(
    *, days_old: float = 0, minutes_old: float = 0, status: str = EventStatus.PROCESSED, attempts: int = 0, **extra: Any
) -> WebhookEvent:
    event = WebhookEvent.objects.create(
        topic=extra.pop("topic", "orders/create"),
        shop_domain="demo-shop.myshopify.com",
        webhook_id=str(uuid.uuid4()),
        received_at=timezone.now() - timedelta(days=days_old, minutes=minutes_old),
        status=status,
        **extra,
    )
    for n in range(1, attempts + 1):
        EventAttempt.objects.create(event=event, number=n, outcome="ok")
    return event


def make_dead_letter(event: WebhookEvent, status: str = "open", *, days_since_update: float = 0) -> DeadLetter:
    dl = DeadLetter.objects.create(
        event=event, topic=event.topic, error_class="ValueError", fingerprint="f" * 40, status=status
    )
    if days_since_update:
        # updated_at is auto_now: only a queryset update can backdate it.
        DeadLetter.objects.filter(pk=dl.pk).update(updated_at=timezone.now() - timedelta(days=days_since_update))
    return dl


def record_health(status: str = "ok", reasons: list[str] | None = None) -> JobRun:
    """A finished health_check run, as the schedule would leave it (alerting reads the latest)."""
    details = {"status": status, "reasons": reasons or [], "checks": {"database": {"ok": status != "down"}}}
    return JobRun.objects.create(
        task="health_check", trigger="schedule", status="ok" if status == "ok" else "failed", details=details
    )


class LocalServer:
    """Routes: /ok 200, /slow 200 after 0.3 s, /hang 200 after 1.5 s, /error 500; POSTs are kept."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                delay = {"/slow": 0.3, "/hang": 1.5}.get(self.path, 0)
                time.sleep(delay)
                code = 500 if self.path == "/error" else 200
                try:
                    self.send_response(code)
                    self.end_headers()
                    self.wfile.write(b'{"status": "ok"}')
                except OSError:  # the client timed out and hung up
                    pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.posts.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> LocalServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/health"
