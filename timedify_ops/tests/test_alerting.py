"""Alert levels from seeded data; notifications once per change and on recovery."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from deadletters.models import DeadLetter
from timedify_ops.alerting import check, evaluate
from timedify_ops.models import AlertState, JobRun
from timedify_ops.tests.conftest import make_dead_letter, make_event, record_health

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels(settings, local_server):
    settings.ALERT_EMAILS = ["oncall@example.com"]
    settings.ALERT_WEBHOOK_URL = f"{local_server.url}/hook"
    return local_server


def test_it_is_level_1_on_a_quiet_healthy_console():
    record_health("ok")
    make_event(minutes_old=1, ack_latency_ms=20)
    result = evaluate()
    assert result["level"] == 1
    assert result["reasons"] == []
    assert result["events"] == 1 and result["errors"] == 0


def test_it_notifies_once_when_the_level_changes_and_again_on_recovery(settings, channels):
    settings.ALERT_DEADLETTERS_MAX = 2
    record_health("ok")
    letters = [make_dead_letter(make_event(status="dead", minutes_old=30)) for _ in range(3)]

    first = check()
    second = check()

    assert first.details["level"] == 2 and second.details["level"] == 2
    assert first.details["reasons"] == ["3 open dead letters > 2"]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "[Timedify] level 2 (errors found), was 1"
    assert mail.outbox[0].to == ["oncall@example.com"]
    assert len(channels.posts) == 1
    assert "3 open dead letters > 2" in channels.posts[0]["text"]
    assert second.details["notified"] is None
    assert AlertState.objects.get().level == 2

    DeadLetter.objects.filter(pk__in=[d.pk for d in letters]).update(status="resolved")
    recovered = check()
    check()

    assert recovered.details["level"] == 1
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "[Timedify] recovered: level 2 -> 1 (normal)"
    assert len(channels.posts) == 2
    assert channels.posts[1]["text"].startswith("[Timedify] recovered")


def test_it_raises_level_2_on_error_rate_and_level_3_when_every_webhook_fails():
    record_health("ok")
    for _ in range(9):
        make_event(minutes_old=1)
    make_event(minutes_old=1, status="dead")
    result = evaluate()
    assert result["level"] == 2
    assert result["error_rate_pct"] == 10.0
    assert result["reasons"] == ["error rate 10.0 % > 5 % (1/10)"]

    from webhooks.models import WebhookEvent

    WebhookEvent.objects.update(status="failed")
    result = evaluate()
    assert result["level"] == 3
    assert result["reasons"] == ["all 10 webhooks in the last 5 min failed"]


def test_it_measures_latency_without_synthetic_deliveries(settings):
    record_health("ok")
    for _ in range(19):
        make_event(minutes_old=1, ack_latency_ms=10)
    make_event(minutes_old=1, ack_latency_ms=200)
    for _ in range(5):
        make_event(minutes_old=1, ack_latency_ms=9000, synthetic=True)
    result = evaluate()
    assert result["events"] == 20
    # Nearest rank, read to the upper edge of its 2 % bin: never below the exact value.
    assert 10 <= result["p95_ms"] <= 10 * 1.02 and 200 <= result["p99_ms"] <= 200 * 1.02
    assert result["slo"]["p95_met"] is True and result["slo"]["p99_met"] is True
    assert result["level"] == 1

    for _ in range(2):
        make_event(minutes_old=1, ack_latency_ms=4000)
    result = evaluate()
    assert 4000 <= result["p95_ms"] <= 4000 * 1.02
    assert result["level"] == 2
    assert result["reasons"] == [f"response time p95 {result['p95_ms']:.0f} ms > 3000 ms"]


def test_it_raises_level_2_for_a_topic_silent_past_its_gap(settings):
    settings.ALERT_TOPIC_GAPS = {"orders/create": 60, "products/update": 60}
    record_health("ok")
    make_event(topic="orders/create", minutes_old=120)
    make_event(topic="orders/create", minutes_old=90, synthetic=True)
    result = evaluate()
    assert result["silent_topics"] == {"orders/create": 120}
    assert result["reasons"] == ["no orders/create for 120 min (gap 60 min)"]


def test_it_takes_the_level_from_the_latest_health_run():
    record_health("ok")
    record_health("down", ["target:app: unreachable: ConnectionError"])
    result = evaluate()
    assert result["level"] == 3
    assert result["reasons"] == ["health down: target:app: unreachable: ConnectionError"]


def test_the_command_exits_0_when_all_is_well():
    record_health("ok")
    out = StringIO()
    call_command("alerting_check", stdout=out)
    assert "alerting_check ok" in out.getvalue()
    run = JobRun.objects.get(task="alerting_check")
    assert (run.trigger, run.details["level"]) == ("command", 1)


def test_the_command_exits_2_when_errors_are_found(settings):
    settings.ALERT_DEADLETTERS_MAX = 0
    record_health("ok")
    make_dead_letter(make_event(status="dead"))
    out = StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("alerting_check", stdout=out)
    assert exc.value.code == 2
    assert "1 open dead letters > 0" in out.getvalue()


def test_the_command_exits_1_when_health_fails():
    record_health("down", ["database: database unreachable: OperationalError"])
    with pytest.raises(SystemExit) as exc:
        call_command("alerting_check", stdout=StringIO())
    assert exc.value.code == 1
