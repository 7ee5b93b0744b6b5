"""The delivery counters behind /metrics: exact, and never going down when retention
deletes the rows they were counted from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from deadletters.models import DeadLetter
from timedify_ops import counters
from timedify_ops.models import DeliveryTotals
from webhooks.models import EventAttempt, RejectedDelivery, WebhookEvent

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def deliver(at: datetime, *, outcome: str | None = None, dead: bool = False, latency_ms: float = 4.0) -> WebhookEvent:
    event = WebhookEvent.objects.create(
        topic="orders/create", webhook_id=str(uuid.uuid4()), received_at=at, ack_latency_ms=latency_ms,
        status="dead" if dead else "processed",
    )
    if outcome:
        EventAttempt.objects.create(event=event, number=1, outcome=outcome, started_at=at)
    if dead:
        DeadLetter.objects.create(event=event, topic=event.topic, error_class="KeyError", fingerprint="fp")
        DeadLetter.objects.filter(event=event).update(created_at=at)
    return event


def retention(before: datetime) -> None:
    """What retention and the dead-letter clean-up do to old rows."""
    old = WebhookEvent.objects.filter(received_at__lt=before)
    DeadLetter.objects.filter(event__in=old).delete()
    EventAttempt.objects.filter(event__in=old).delete()
    old.delete()
    RejectedDelivery.objects.filter(hour__lt=before).delete()


@pytest.mark.django_db
def test_it_counts_each_fact_once_and_keeps_it_after_retention(settings):
    settings.OPS_ROLLUP_SETTLE_MINUTES = 15
    deliver(START, outcome="ok")
    deliver(START, outcome="failed", dead=True, latency_ms=30.0)
    deliver(START + timedelta(minutes=1), outcome="ignored", latency_ms=700.0)
    WebhookEvent.objects.create(topic="x", webhook_id="synthetic", received_at=START, synthetic=True)
    RejectedDelivery.objects.create(provider="shopify", reason="bad_signature", hour=START.replace(minute=0), count=4)

    first = counters.totals(START + timedelta(hours=3))
    assert {k: first[k] for k in counters.COUNTERS} == {
        "received": 3, "refused": 4, "processed": 2, "failed": 1, "dead_lettered": 1,
    }
    assert (first["le_0.005"], first["le_0.05"], first["le_1"], first["latency_count"]) == (1, 2, 3, 3)
    assert first["latency_sum_s"] == pytest.approx(0.734)
    # The settled hours are in the ledger; deleting their rows changes no counter.
    assert DeliveryTotals.objects.get().through == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    retention(START + timedelta(hours=2))
    assert not WebhookEvent.objects.filter(synthetic=False).exists()
    assert counters.totals(START + timedelta(hours=3)) == first


@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("deliver"), st.sampled_from(["ok", "failed", "ignored", None]), st.booleans()),
            st.tuples(st.just("refuse"), st.integers(1, 3), st.just(False)),
            st.tuples(st.just("advance"), st.integers(1, 180), st.just(False)),
            st.tuples(st.just("retention"), st.just(None), st.just(False)),
        ),
        max_size=12,
    )
)
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.django_db
def test_it_never_lets_a_counter_go_down_and_loses_nothing(steps, settings):
    settings.OPS_ROLLUP_SETTLE_MINUTES = 15
    for model in (DeadLetter, EventAttempt, WebhookEvent, RejectedDelivery, DeliveryTotals):
        model.objects.all().delete()
    clock, expected = START, dict.fromkeys(counters.COUNTERS, 0.0)
    previous = counters.totals(clock)
    for kind, value, flag in steps:
        if kind == "deliver":
            deliver(clock, outcome=value, dead=flag)
            expected["received"] += 1
            expected["processed"] += value in ("ok", "ignored")
            expected["failed"] += value == "failed"
            expected["dead_lettered"] += flag
        elif kind == "refuse":
            hour = clock.replace(minute=0, second=0, microsecond=0)
            bucket, _ = RejectedDelivery.objects.get_or_create(provider="shopify", reason="bad_json", hour=hour)
            RejectedDelivery.objects.filter(pk=bucket.pk).update(count=bucket.count + value)
            expected["refused"] += value
        elif kind == "advance":
            clock += timedelta(minutes=value)
        else:
            # Retention only ever reaches rows of settled hours (14 days old in production).
            retention(counters.settled_until(clock))
        now = counters.totals(clock)
        assert all(now[k] >= previous.get(k, 0.0) for k in previous), (previous, now)
        assert {k: now[k] for k in counters.COUNTERS} == expected
        previous = now
