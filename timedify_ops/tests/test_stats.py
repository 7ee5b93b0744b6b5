"""The dashboard's figures on seeded data, with exact expected values."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from deadletters.models import DeadLetter
from timedify_ops import rollup, series, stats
from timedify_ops.models import JobRun
from webhooks.models import ForwardDestination, WebhookEvent

# The database the suite runs on, known at collection (as conftest's `postgres` marker reads it).
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def seed(count: int, *, minutes_ago: float, status: str = "processed", latency: float = 10.0,
         synthetic: bool = False, topic: str = "orders/create", prefix: str = "e") -> list[WebhookEvent]:
    now = timezone.now()
    events = [
        WebhookEvent(
            topic=topic, shop_domain="a.myshopify.com", webhook_id=f"{prefix}-{uuid.uuid4()}",
            received_at=now - timedelta(minutes=minutes_ago), status=status, ack_latency_ms=latency,
            synthetic=synthetic,
        )
        for i in range(count)
    ]
    return WebhookEvent.objects.bulk_create(events)


@pytest.fixture(autouse=True)
def _no_slo_cache(settings):
    settings.OPS_SLO_CACHE_SECONDS = 0


@pytest.mark.django_db
def test_it_counts_volume_and_errors_and_leaves_synthetic_events_out():
    seed(196, minutes_ago=30, latency=5)
    seed(3, minutes_ago=30, status="dead", latency=5)
    seed(1, minutes_ago=30, status="failed", latency=5)
    seed(50, minutes_ago=30, status="dead", synthetic=True, latency=900)
    seed(7, minutes_ago=60 * 30, latency=5)  # older than 24 h

    figures = series.series(timedelta(hours=24), 3600).compliance()

    assert figures["events"] == 200
    assert figures["errors"] == 4
    assert figures["error_rate"] == pytest.approx(0.02)
    assert figures["error_rate_met"] is False
    assert stats.error_rate(timedelta(hours=1)) == {"events": 200, "errors": 4, "error_rate": 0.02}


@pytest.mark.django_db
def test_it_computes_latency_percentiles():
    # Latencies 1..100 ms, one event each: p50 50.5, p95 95.05, p99 99.01 (percentile_cont).
    now = timezone.now()
    WebhookEvent.objects.bulk_create(
        WebhookEvent(topic="orders/create", webhook_id=f"lat-{ms}", received_at=now - timedelta(minutes=5),
                     status="processed", ack_latency_ms=float(ms))
        for ms in range(1, 101)
    )
    total = series.series(timedelta(hours=24), 3600).total

    assert total.count == 100
    assert total.p50 == pytest.approx(50.5, abs=1.0)
    assert total.p95 == pytest.approx(95.05, abs=1.0)
    assert total.p99 == pytest.approx(99.01, abs=1.0)


@pytest.mark.django_db
def test_it_puts_events_in_their_hourly_bucket_and_keeps_empty_hours():
    seed(5, minutes_ago=5, latency=20)
    seed(2, minutes_ago=60 * 5 + 5, latency=400, status="dead")

    s = series.series(timedelta(hours=24), 3600)

    assert len(s.buckets) in (24, 25)
    busy = [b for b in s.buckets if b.count]
    assert [(b.count, b.errors) for b in busy] == [(2, 2), (5, 0)]
    assert busy[0].p95 == pytest.approx(400, rel=0.02)  # latency bins are 2 % wide
    assert sum(1 for b in s.buckets if not b.count) == len(s.buckets) - 2


@pytest.mark.django_db
def test_the_last_day_of_a_week_is_the_days_own_series():
    seed(5, minutes_ago=5, latency=20)
    seed(2, minutes_ago=60 * 5 + 5, latency=400, status="dead")
    seed(3, minutes_ago=60 * 30, latency=30)  # in the week, not in the day
    rollup.fill()  # settled hours from the rollup, the last ones live, in both
    now = timezone.now()
    day, week = series.series(timedelta(hours=24), 3600, now=now), series.series(timedelta(days=7), 3600, now=now)
    tail = week.last(timedelta(hours=24))
    assert (tail.since, tail.until) == (day.since, day.until)
    assert [(b.start, b.count, b.errors, b.histogram) for b in tail.buckets] == [
        (b.start, b.count, b.errors, b.histogram) for b in day.buckets]
    assert tail.compliance() == day.compliance()
    with pytest.raises(ValueError):
        day.last(timedelta(days=2))


@pytest.mark.django_db
def test_it_reports_slo_compliance_over_7_and_30_days():
    seed(100, minutes_ago=60 * 24 * 2, latency=20)  # 2 days ago, within SLO
    seed(100, minutes_ago=60 * 24 * 10, latency=800)  # 10 days ago: p95 and p99 missed
    seed(100, minutes_ago=60 * 24 * 10 - 120, latency=800, synthetic=True)

    week, month = stats.slo(7), stats.slo(30)

    assert (week["events"], week["p95_met"], week["compliance_pct"]) == (100, True, 100.0)
    assert (month["events"], month["p95_met"], month["p99_met"]) == (200, False, False)
    assert (month["buckets_with_traffic"], month["buckets_within_slo"], month["compliance_pct"]) == (2, 1, 50.0)


@pytest.mark.django_db
def test_it_reports_the_queue_backlog_and_stuck_events():
    now = timezone.now()
    seed(3, minutes_ago=10, status="received")
    stuck = seed(2, minutes_ago=20, status="processing", prefix="stuck")
    WebhookEvent.objects.filter(pk__in=[e.pk for e in stuck]).update(lease_expires_at=now - timedelta(minutes=10))
    seed(1, minutes_ago=1, status="processing", prefix="live")
    WebhookEvent.objects.filter(webhook_id__startswith="live").update(lease_expires_at=now + timedelta(minutes=1))
    # Lapsed a minute ago: the sweeper has not had its turn yet, so not stuck (figures.stuck_events).
    seed(1, minutes_ago=5, status="processing", prefix="lapsing")
    WebhookEvent.objects.filter(webhook_id__startswith="lapsing").update(lease_expires_at=now - timedelta(minutes=1))

    q = stats.queue()

    assert q["pending_events"] == 7
    assert q["stuck_events"] == 2
    assert q["oldest_pending_age_s"] == pytest.approx(600, abs=30)


@pytest.mark.django_db
def test_it_groups_open_dead_letters_by_topic_and_error():
    events = seed(4, minutes_ago=5, status="dead", topic="orders/create") + seed(
        1, minutes_ago=5, status="dead", topic="app/uninstalled"
    )
    for i, event in enumerate(events):
        DeadLetter.objects.create(
            event=event, topic=event.topic, error_class="KeyError" if i < 3 else "ValueError",
            error_message="boom", fingerprint=f"fp-{event.topic}-{i < 3}",
            status="open" if i != 2 else "resolved",
        )
    # A dead letter being replayed right now is still unresolved: it counts.
    replaying = seed(1, minutes_ago=5, status="dead", topic="orders/create", prefix="replaying")[0]
    DeadLetter.objects.create(
        event=replaying, topic=replaying.topic, error_class="KeyError", error_message="boom",
        fingerprint="fp-orders/create-True", status="replaying",
    )

    dead = stats.dead_letters()

    assert dead["open"] == 5
    assert [(r["topic"], r["n"]) for r in dead["by_topic"]] == [("orders/create", 4), ("app/uninstalled", 1)]
    assert sorted((g["error_class"], g["topic"], g["n"]) for g in dead["groups"]) == [
        ("KeyError", "orders/create", 3), ("ValueError", "app/uninstalled", 1), ("ValueError", "orders/create", 1),
    ]


@pytest.mark.django_db
def test_it_derives_the_overall_status_from_the_latest_health_and_alerting_runs():
    first = stats.overall_status()
    assert (first["status"], first["reasons"]) == ("unknown", ["no health check has run yet"])

    JobRun.objects.create(task="health_check", status="ok", details={"status": "ok", "reasons": [], "checks": {}})
    assert stats.overall_status() == {**stats.overall_status(), "status": "ok", "reasons": []}

    JobRun.objects.create(task="alerting_check", status="warning", details={"level": 2, "findings": [
        {"level": 2, "text": "error rate 7.0 % > 5 % (7/100)", "area": "system"},
        {"level": 2, "text": "12 open dead letters > 10", "area": "backlog"},
    ]})
    status = stats.overall_status()
    assert (status["status"], status["reasons"], status["backlog"]) == (
        "degraded", ["error rate 7.0 % > 5 % (7/100)"], ["12 open dead letters > 10"])

    # The backlog alone leaves the system ok.
    JobRun.objects.create(task="alerting_check", status="warning", details={"level": 2, "findings": [
        {"level": 2, "text": "12 open dead letters > 10", "area": "backlog"}]})
    assert (stats.overall_status()["status"], stats.overall_status()["reasons"]) == ("ok", [])

    # Health's reasons once, though alerting repeats them as its own finding.
    JobRun.objects.create(task="health_check", status="warning",
                          details={"status": "degraded", "reasons": ["no worker cluster is running"]})
    JobRun.objects.create(task="alerting_check", status="warning", details={"level": 2, "findings": [
        {"level": 2, "text": "health degraded: no worker cluster is running", "area": "health"}]})
    assert stats.overall_status()["reasons"] == ["no worker cluster is running"]

    JobRun.objects.create(
        task="health_check", status="failed", summary="database down",
        details={"status": "down", "reasons": ["database unreachable"], "checks": {}},
    )
    assert stats.overall_status()["status"] == "down"

    JobRun.objects.all().delete()
    JobRun.objects.create(task="health_check", status="ok", started_at=timezone.now() - timedelta(hours=1),
                          details={"status": "ok", "reasons": []})
    assert stats.overall_status()["status"] == "degraded"
    assert stats.overall_status()["reasons"] == ["the last health check is 60 min old"]


@pytest.mark.django_db
def test_it_lists_every_schedule_with_its_last_and_next_run():
    next_run = timezone.now() + timedelta(minutes=5)
    health = Schedule.objects.create(name="health check", func="timedify_ops.jobs.health_check", next_run=next_run)
    Schedule.objects.create(name="retention", func="timedify_ops.jobs.retention", next_run=next_run + timedelta(hours=1))
    JobRun.objects.create(task="health_check", schedule=health, status="ok", summary="all good")

    rows = {r["name"]: r for r in stats.schedules()}

    assert rows["health check"]["last_status"] == "ok"
    assert rows["health check"]["last_summary"] == "all good"
    assert rows["health check"]["next_run"] == next_run.isoformat()
    assert rows["retention"]["last_run"] is None


@pytest.mark.django_db
def test_it_lists_circuit_breakers():
    ForwardDestination.objects.create(name="app", url="http://127.0.0.1:9/", state="open", consecutive_failures=5)

    assert [(b["name"], b["state"], b["consecutive_failures"]) for b in stats.breakers()] == [("app", "open", 5)]


@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL has them: test_it_shows_a_statement_waiting_for_a_lock_on_postgresql")
@pytest.mark.django_db
def test_it_says_database_details_are_not_available_on_sqlite():
    assert stats.database() == {"available": False, "vendor": "sqlite"}


@pytest.mark.postgres
@pytest.mark.django_db
def test_it_shows_a_statement_waiting_for_a_lock_on_postgresql():
    import threading

    import psycopg
    from django.db import connection

    db = connection.settings_dict
    conninfo = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"
    holder = psycopg.connect(conninfo)
    holder.execute("LOCK TABLE django_q_ormq IN ACCESS EXCLUSIVE MODE")
    waiter = psycopg.connect(conninfo, autocommit=True)
    waiter.execute("SET statement_timeout = '20s'")
    thread = threading.Thread(target=lambda: waiter.execute("SELECT count(*) FROM django_q_ormq /* ops-lock-probe */"))
    thread.start()
    try:
        for _ in range(100):
            waiting = [w for w in stats.database()["waiting_locks"] if "ops-lock-probe" in w["query"]]
            if waiting:
                break
            time.sleep(0.1)
        assert [(w["mode"], w["locktype"]) for w in waiting] == [("AccessShareLock", "relation")]
        assert sum(stats.database()["connections"].values()) >= 3
    finally:
        holder.rollback()
        thread.join(timeout=20)
        holder.close()
        waiter.close()


@pytest.mark.django_db
def test_it_rolls_settled_hours_up_once_and_keeps_them_after_retention_deletes_events():
    from timedify_ops.models import TrafficHour

    seed(10, minutes_ago=60 * 24 * 3, latency=30, status="dead")
    seed(4, minutes_ago=3, latency=30)

    first = stats.slo(7)
    assert (first["events"], first["errors"]) == (14, 10)
    assert TrafficHour.objects.filter(events=10, errors=10).count() == 1
    now = timezone.now()
    expected_hours = (rollup.settled_until(now) - series.floor_to(now - timedelta(days=31), 3600)) // timedelta(hours=1)
    assert TrafficHour.objects.count() == expected_hours  # empty hours too: they are done

    # Retention deletes the old events; the figures for their hour stay.
    WebhookEvent.objects.filter(received_at__lt=timezone.now() - timedelta(days=2)).delete()
    rows = TrafficHour.objects.count()
    again = stats.slo(7)
    assert (again["events"], again["errors"]) == (14, 10)
    assert TrafficHour.objects.count() == rows
