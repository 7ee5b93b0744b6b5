"""GET /api/metrics and GET /metrics: who may read them, and what they say."""

from __future__ import annotations

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from deadletters.models import DeadLetter
from timedify_ops.models import JobRun
from webhooks.models import ForwardDestination, WebhookEvent

KEY = "scrape-key-123"


@pytest.fixture(autouse=True)
def _metrics_key(settings):
    settings.METRICS_KEY = KEY
    settings.OPS_SLO_CACHE_SECONDS = 0


@pytest.fixture
def seeded(db):
    now = timezone.now()
    for i, status in enumerate(["processed", "processed", "dead"]):
        WebhookEvent.objects.create(topic="orders/create", webhook_id=f"m-{i}", status=status,
                                    received_at=now, ack_latency_ms=12.0)
    dead = WebhookEvent.objects.get(webhook_id="m-2")
    DeadLetter.objects.create(event=dead, topic="orders/create", error_class="KeyError", fingerprint="fp")
    ForwardDestination.objects.create(name="app-orders", url="http://127.0.0.1:9/", state="open")
    JobRun.objects.create(task="health_check", status="ok", details={"status": "ok", "reasons": [], "checks": {}})


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/metrics", "/metrics"])
def test_it_refuses_anonymous_and_wrong_keys(client, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"X-Metrics-Key": "wrong"}).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/metrics", "/metrics"])
def test_it_refuses_a_signed_in_user_who_is_not_staff(client, django_user_model, path):
    user = django_user_model.objects.create_user("someone", password="pw-123456")
    client.force_login(user)
    assert client.get(path).status_code == 403


@pytest.mark.django_db
def test_it_refuses_every_key_when_none_is_configured(client, settings):
    settings.METRICS_KEY = ""
    assert client.get("/api/metrics", headers={"X-Metrics-Key": ""}).status_code == 403


def test_it_answers_json_for_the_right_key(client, seeded):
    response = client.get("/api/metrics", headers={"X-Metrics-Key": KEY})

    assert response.status_code == 200
    body = response.json()
    assert body["status"]["status"] == "ok"
    assert body["events"]["last_5m"]["processed"] == 2
    assert body["errors"]["last_24h"] == {"events": 3, "errors": 1, "error_rate": pytest.approx(1 / 3, abs=1e-5)}
    assert body["dead_letters"]["open"] == 1
    assert body["breakers"][0]["name"] == "app-orders"
    assert body["slo"]["targets"] == {"p95_ms": 100.0, "p99_ms": 500.0, "error_rate": 0.005}
    assert body["uptime_s"] >= 0


def test_it_answers_json_for_a_staff_session(admin_client, seeded):
    response = admin_client.get("/api/metrics")
    assert response.status_code == 200
    assert response.json()["dead_letters"]["open"] == 1


def test_it_answers_prometheus_text_that_parses(client, seeded):
    response = client.get("/metrics", headers={"X-Metrics-Key": KEY})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("timedify_dead_letters_open", ())] == 1
    assert samples[("timedify_status", (("status", "ok"),))] == 1
    assert samples[("timedify_webhook_events", (("status", "dead"), ("window", "last_24h")))] == 1
    assert samples[("timedify_breaker_state", (("destination", "app-orders"), ("state", "open")))] == 1
    p95 = samples[("timedify_ingest_latency_quantile_seconds", (("percentile", "p95"), ("window", "last_7d")))]
    assert 0.012 <= p95 <= 0.012 * 1.02
    # Counters and the histogram, from the rows.
    assert samples[("timedify_deliveries_received_total", ())] == 3
    assert samples[("timedify_deliveries_dead_lettered_total", ())] == 1
    assert samples[("timedify_ingest_latency_seconds_bucket", (("le", "0.01"),))] == 0
    assert samples[("timedify_ingest_latency_seconds_bucket", (("le", "0.025"),))] == 3
    assert samples[("timedify_ingest_latency_seconds_count", ())] == 3
    assert samples[("timedify_ingest_latency_seconds_sum", ())] == pytest.approx(0.036)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/metrics", "/metrics"])
def test_it_takes_the_key_as_a_bearer_token_as_prometheus_sends_it(client, path):
    assert client.get(path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 403
    # Another scheme is no key at all: the staff-session rule answers.
    refused = client.get(path, headers={"Authorization": f"Basic {KEY}"})
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_it_serves_prometheus_text_to_a_staff_session(admin_client, seeded):
    response = admin_client.get("/metrics")
    assert response.status_code == 200
    assert b"timedify_uptime_seconds" in response.content
