"""On the same data, every reader reports the same numbers: the dashboard, /api/metrics,
/metrics, the health check, alerting and the ops_dashboard command.

The data: events (some failed or dead, with latencies), open dead letters, stuck events
and tasks waiting in the broker's queue. Every event is inside the alert window, so the
window's figures and the 24-hour ones count the same events. Runs on SQLite and, with
DATABASE_URL set, on PostgreSQL.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_q.tasks import async_task
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from deadletters.models import DeadLetter
from timedify_ops import alerting
from timedify_ops.health import full_health
from timedify_ops.models import JobRun
from webhooks.models import WebhookEvent

KEY = "agreement-key"
STATUSES = ["processed", "ignored", "failed", "dead"]


def load(events: list[tuple[str, float]], open_dead: int, stuck: int, queued: int) -> None:
    now = timezone.now()
    for status, latency in events:
        WebhookEvent.objects.create(
            topic="orders/create", webhook_id=str(uuid.uuid4()), received_at=now - timedelta(seconds=30),
            status=status, ack_latency_ms=latency,
        )
    for _ in range(open_dead):
        event = WebhookEvent.objects.create(
            topic="app/uninstalled", webhook_id=str(uuid.uuid4()), received_at=now - timedelta(days=3), status="dead",
        )
        DeadLetter.objects.create(event=event, topic=event.topic, error_class="KeyError", fingerprint="fp")
    for _ in range(stuck):
        WebhookEvent.objects.create(
            topic="orders/create", webhook_id=str(uuid.uuid4()), received_at=now - timedelta(days=2),
            status="processing", lease_expires_at=now - timedelta(minutes=10),
        )
    for i in range(queued):
        async_task("math.floor", i + 0.5)
    JobRun.objects.create(task="health_check", status="ok", details={"status": "ok", "reasons": [], "checks": {}})


def _number(text: str) -> float | None:
    cleaned = text.strip().removesuffix("ms").strip()
    return None if cleaned in ("", "–", "unknown") else float(cleaned)


def from_dashboard(client: Client) -> dict[str, Any]:
    html = client.get("/admin/ops/dashboard/").content.decode()
    found = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', html))
    return {
        "open_dead_letters": int(found["open_dead_letters"]),
        "stuck_events": int(found["stuck_events"]),
        "queue_depth": int(found["queue_depth"]),
        "events": int(found["events"]),
        "errors": int(found["errors"]),
        "events_24h": int(found["events_24h"]),
        "errors_24h": int(found["errors_24h"]),
        # The page shows one decimal.
        "p95_ms_1dp": _number(found["p95_24h"]),
        "p99_ms_1dp": _number(found["p99_24h"]),
    }


def from_api(client: Client) -> dict[str, Any]:
    body = client.get("/api/metrics", headers={"Authorization": f"Bearer {KEY}"}).json()
    window = body["errors"]["last_5m"]
    latency = body["latency"]["last_5m"]
    return {
        "open_dead_letters": body["dead_letters"]["open"],
        "stuck_events": body["queue"]["stuck_events"],
        "queue_depth": body["queue"]["broker"]["depth"],
        "events": window["events"],
        "errors": window["errors"],
        "events_24h": body["errors"]["last_24h"]["events"],
        "errors_24h": body["errors"]["last_24h"]["errors"],
        "events_by_status": sum(body["events"]["last_5m"].values()),
        "errors_by_status": body["events"]["last_5m"]["failed"] + body["events"]["last_5m"]["dead"],
        "p95_ms": latency["p95_ms"],
        "p99_ms": latency["p99_ms"],
    }


def from_prometheus(client: Client) -> dict[str, Any]:
    text = client.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).content.decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }

    def quantile(name: str) -> float | None:
        value = samples.get(("timedify_ingest_latency_quantile_seconds", (("percentile", name), ("window", "last_5m"))))
        return None if value is None else value * 1000

    return {
        "open_dead_letters": int(samples[("timedify_dead_letters_open", ())]),
        "stuck_events": int(samples[("timedify_events_stuck", ())]),
        "queue_depth": int(samples[("timedify_queue_depth", ())]),
        "error_rate": samples[("timedify_webhook_error_rate", (("window", "last_5m"),))],
        "p95_ms": quantile("p95"),
        "p99_ms": quantile("p99"),
    }


def from_health() -> dict[str, Any]:
    checks = full_health(targets={})["checks"]
    return {
        "open_dead_letters": checks["dead_letters"]["open"],
        "stuck_events": checks["stuck_events"]["stuck"],
        "queue_depth": checks["queue"]["depth"],
    }


def from_alerting() -> dict[str, Any]:
    result = alerting.evaluate()
    return {
        "open_dead_letters": result["dead_letters_open"],
        "events": result["events"],
        "errors": result["errors"],
        "p95_ms": result["p95_ms"],
        "p99_ms": result["p99_ms"],
    }


def from_command() -> dict[str, Any]:
    out = StringIO()
    try:
        call_command("ops_dashboard", stdout=out, no_color=True)
    except SystemExit:
        pass
    text = out.getvalue()
    errors, events = re.search(r"Errors, last 5 min: (\d+) of (\d+) events", text).groups()  # type: ignore[union-attr]
    depth, _, stuck = re.search(r"Queue: (\d+) queued, (\d+) events pending, (\d+) stuck", text).groups()  # type: ignore[union-attr]
    dead = re.search(r"Open dead letters: (\d+)", text).group(1)  # type: ignore[union-attr]
    return {
        "open_dead_letters": int(dead), "stuck_events": int(stuck), "queue_depth": int(depth),
        "events": int(events), "errors": int(errors),
    }


def assert_agreement(admin_client: Client, client: Client) -> dict[str, dict[str, Any]]:
    readers = {
        "dashboard": from_dashboard(admin_client),
        "api": from_api(client),
        "prometheus": from_prometheus(client),
        "health": from_health(),
        "alerting": from_alerting(),
        "ops_dashboard": from_command(),
    }
    api = readers["api"]
    for reader, figures in readers.items():
        for name, value in figures.items():
            if name == "error_rate":
                assert value == pytest.approx(api["errors"] / api["events"] if api["events"] else 0.0), reader
            elif name.endswith("_1dp"):
                expected = api[name.removesuffix("_1dp")]
                assert value == (None if expected is None else round(expected, 1)), (reader, name)
            elif name.endswith(("_24h", "_by_status")):
                assert value == api[name.removesuffix("_24h").removesuffix("_by_status")], (reader, name)
            elif reader == "prometheus" and name.endswith("_ms") and value is not None:
                # Exposed in seconds: the same float, up to the division by 1000.
                assert value == pytest.approx(api[name], rel=1e-12), (reader, name)
            else:
                assert value == api[name], (reader, name, figures, api)
    return readers


@pytest.fixture(autouse=True)
def _key(settings):
    settings.METRICS_KEY = KEY
    settings.OPS_SLO_CACHE_SECONDS = 0
    settings.ALERT_WINDOW_MINUTES = 5
    settings.HEALTH_STUCK_GRACE_SECONDS = 120


def test_it_gives_the_same_numbers_everywhere_on_one_data_set(admin_client, client):
    latencies = [1.0, 2.0, 3.0, 4.0, 100.0]
    load([("processed", ms) for ms in latencies[:4]] + [("dead", 100.0)], open_dead=3, stuck=2, queued=4)

    readers = assert_agreement(admin_client, client)

    api = readers["api"]
    assert (api["open_dead_letters"], api["stuck_events"], api["queue_depth"]) == (3, 2, 4)
    assert (api["events"], api["errors"]) == (5, 1)
    # Nearest rank: one delivery in five took 100 ms, so p99 is 100 ms (to its 2 % bin).
    assert 100 <= api["p99_ms"] <= 102


@given(
    events=st.lists(st.tuples(st.sampled_from(STATUSES), st.floats(0.5, 5000)), max_size=12),
    open_dead=st.integers(0, 4),
    stuck=st.integers(0, 3),
    queued=st.integers(0, 3),
)
@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.django_db
def test_it_agrees_on_any_data(admin_client, client, events, open_dead, stuck, queued):
    from django_q.models import OrmQ

    for model in (DeadLetter, WebhookEvent, JobRun, OrmQ):
        model.objects.all().delete()
    load(events, open_dead, stuck, queued)
    assert_agreement(admin_client, client)
