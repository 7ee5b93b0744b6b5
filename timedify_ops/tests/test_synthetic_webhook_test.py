"""synthetic_webhook_test against a live console and against a target that fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import call_command

from timedify_ops import series
from webhooks.handlers import handled_topics
from webhooks.models import WebhookEvent


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("synthetic_webhook_test", *args, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def failing_target() -> Iterator[str]:
    """A stand-in endpoint that answers 500 to every delivery."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"boom")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_it_stores_one_synthetic_event_per_handled_topic(live_server, settings):
    settings.OPS_SLO_CACHE_SECONDS = 0
    code, out = run("--target", live_server.url)

    assert code == 0, out
    events = WebhookEvent.objects.filter(webhook_id__startswith="synthetic-")
    assert sorted(events.values_list("topic", flat=True)) == handled_topics()
    assert all(e.synthetic for e in events)
    assert out.strip().splitlines()[-1].endswith(f"{len(handled_topics())} ok, 0 failed")
    # Left out of the SLO figures.
    assert series.series(timedelta(hours=24), 3600).total.count == 0


@pytest.mark.django_db
def test_it_exits_1_when_the_target_answers_500(failing_target):
    code, out = run("--target", failing_target)

    assert code == 1
    assert "answered 500" in out
    assert out.strip().splitlines()[-1].endswith(f"0 ok, {len(handled_topics())} failed")


@pytest.mark.django_db
def test_it_exits_1_when_nothing_listens():
    code, out = run("--target", "http://127.0.0.1:9/", "--no-store-check")
    assert code == 1
    assert "not delivered" in out
