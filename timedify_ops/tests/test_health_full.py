"""full_health and the health_check job against real HTTP targets on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from timedify_ops.health import basic_health, full_health
from timedify_ops.jobs import execute
from timedify_ops.tests.conftest import make_dead_letter, make_event

pytestmark = pytest.mark.django_db


def test_it_reports_an_up_target_with_its_latency(local_server):
    report = full_health(targets={"app": f"{local_server.url}/ok"})
    target = report["checks"]["target:app"]
    assert target["ok"] is True
    assert target["status_code"] == 200
    assert 0 < target["latency_ms"] < 1000
    assert not any(r.startswith("target:") for r in report["reasons"])
    # No qcluster runs in this test: the console is degraded, not down.
    assert report["checks"]["cluster"] == {"ok": False, "error": "no worker cluster is running", "clusters": 0}
    assert report["status"] == "degraded"


def test_it_is_degraded_by_a_slow_target(local_server, settings):
    settings.HEALTH_TARGET_SLOW_MS = 100
    report = full_health(targets={"app": f"{local_server.url}/slow"})
    target = report["checks"]["target:app"]
    assert target["ok"] is False and target["slow"] is True
    assert target["latency_ms"] >= 300
    assert report["status"] == "degraded"
    assert any(r.startswith("target app: slow: ") for r in report["reasons"])


def test_it_is_down_when_a_target_times_out(local_server, settings):
    settings.HEALTH_TARGET_TIMEOUT = 0.5
    report = full_health(targets={"app": f"{local_server.url}/hang"})
    assert report["checks"]["target:app"]["error"] == "timed out after 0.5 s"
    assert report["status"] == "down"


def test_it_is_down_when_a_target_is_unreachable_or_answers_wrongly(local_server, closed_port_url):
    report = full_health(targets={"app": closed_port_url, "api": f"{local_server.url}/error"})
    assert report["checks"]["target:app"]["error"] == "unreachable: ConnectionError"
    assert report["checks"]["target:api"]["error"] == "answered 500, expected 200"
    assert report["status"] == "down"
    targets = [r for r in report["reasons"] if r.startswith("target ")]
    assert sorted(targets) == ["target api: answered 500, expected 200", "target app: unreachable: ConnectionError"]


def test_it_counts_stuck_events_and_keeps_open_dead_letters_out_of_the_status(settings):
    settings.ALERT_DEADLETTERS_MAX = 1
    settings.HEALTH_STUCK_GRACE_SECONDS = 120
    for _ in range(2):
        make_event(status="processing", lease_expires_at=timezone.now() - timedelta(minutes=10))
    # Lapsed, but within the sweeper's grace: not stuck yet. Still leased: not stuck.
    make_event(status="processing", lease_expires_at=timezone.now() - timedelta(seconds=30))
    make_event(status="processing", lease_expires_at=timezone.now() + timedelta(minutes=1))
    for _ in range(2):
        make_dead_letter(make_event(status="dead"))
    report = full_health(targets={})
    checks = report["checks"]
    assert checks["stuck_events"] == {"ok": False, "stuck": 2, "error": "2 events stuck in processing past their lease"}
    assert checks["dead_letters"] == {"ok": False, "open": 2, "error": "2 open dead letters > 1"}
    # The backlog is listed apart and never makes the system degraded by itself.
    assert report["backlog"] == ["2 open dead letters > 1"]
    assert "2 open dead letters > 1" not in report["reasons"]
    # Two tasks waiting in the ORM broker's queue: the depth says two.
    from django_q.tasks import async_task

    async_task("math.floor", 1.5)
    async_task("math.floor", 2.5)
    assert full_health(targets={})["checks"]["queue"]["depth"] == 2


def test_it_records_the_contract_shape_in_the_health_check_run(local_server, settings):
    settings.HEALTH_TARGETS = {"app": f"{local_server.url}/ok"}
    run = execute("health_check", trigger="command")
    assert set(run.details) >= {"status", "reasons", "backlog", "checks"}
    assert run.details["status"] == "degraded"  # no cluster in this test
    assert {name for name, c in run.details["checks"].items() if c["ok"] is not True} == {"cluster"}
    assert run.status == "warning"
    assert run.summary == "degraded: no worker cluster is running"


def test_it_keeps_basic_health_to_database_and_migrations():
    assert set(basic_health()["checks"]) == {"database", "migrations"}
