"""ops_dashboard: the terminal status and its exit codes (0 ok, 1 down, 2 degraded)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from timedify_ops.models import JobRun
from webhooks.models import WebhookEvent


def run() -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("ops_dashboard", stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def health(status: str, reasons: list[str] | None = None) -> None:
    JobRun.objects.create(task="health_check", status="ok" if status == "ok" else "warning",
                          details={"status": status, "reasons": reasons or [], "checks": {}})


@pytest.mark.django_db
def test_it_exits_0_and_shows_activity_and_latency_when_healthy():
    health("ok")
    JobRun.objects.create(task="retention_cleanup", status="ok", summary="deleted 12 events")
    now = timezone.now()
    for i in range(4):
        WebhookEvent.objects.create(topic="orders/create", webhook_id=f"t-{i}", received_at=now,
                                    status="processed", ack_latency_ms=40.0)
    WebhookEvent.objects.create(topic="app/uninstalled", webhook_id="t-x", received_at=now, status="failed",
                                ack_latency_ms=40.0)

    code, out = run()

    assert code == 0
    assert "SYSTEM HEALTH: OK" in out
    assert "Errors, last 5 min: 1 of 5 events (20.00 %)" in out
    assert "orders/create" in out and "app/uninstalled" in out
    assert "p95" in out and "40." in out
    assert "retention_cleanup" in out and "deleted 12 events" in out
    assert "\x1b[" not in out  # not a TTY: no colour codes
    assert out.strip().splitlines()[-1].startswith("status ok: 1 errors in 5 min, 0 open dead letters")


@pytest.mark.django_db
def test_it_exits_2_when_degraded_and_1_when_down():
    health("degraded", ["queue is 900 s behind"])
    code, out = run()
    assert code == 2
    assert "SYSTEM HEALTH: DEGRADED" in out and "queue is 900 s behind" in out

    JobRun.objects.create(task="alerting_check", status="failed", details={"level": 3, "reasons": ["all fail"]})
    code, out = run()
    assert code == 1
    assert "SYSTEM HEALTH: DOWN" in out and "  - all fail" in out


@pytest.mark.django_db
def test_it_exits_2_and_says_unknown_when_no_health_check_has_run():
    code, out = run()
    assert code == 2
    assert "SYSTEM HEALTH: UNKNOWN" in out and "no health check has run yet" in out
