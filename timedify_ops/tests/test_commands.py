"""The ops commands: output, JobRun records, exit codes."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from timedify_ops.models import JobRun
from timedify_ops.tests.conftest import make_event
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


def test_health_check_exits_1_and_names_the_failing_checks(settings, closed_port_url):
    settings.HEALTH_TARGETS = {"app": closed_port_url}
    out = StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("health_check", stdout=out)
    assert exc.value.code == 1
    text = out.getvalue()
    assert "health_check failed" in text
    assert "target:app: unreachable: ConnectionError" in text
    run = JobRun.objects.get(task="health_check")
    assert (run.trigger, run.status, run.details["status"]) == ("command", "failed", "down")


def test_retention_cleanup_takes_days_and_prints_a_summary():
    for _ in range(4):
        make_event(days_old=8, attempts=1)
    make_event(days_old=2)
    out = StringIO()
    call_command("retention_cleanup", "7", "--dry-run", stdout=out)
    assert "would delete 4 events, 4 attempts" in out.getvalue()
    assert WebhookEvent.objects.count() == 5

    out = StringIO()
    call_command("retention_cleanup", "7", "--batch-size", "3", stdout=out)
    assert "deleted 4 events, 4 attempts in 2 batches" in out.getvalue()
    assert WebhookEvent.objects.count() == 1
    runs = JobRun.objects.filter(task="retention_cleanup", trigger="command")
    assert runs.count() == 2


def test_retention_cleanup_refuses_zero_days():
    make_event(days_old=1)
    with pytest.raises(CommandError, match="argument days: 0 is outside 1..36500"):
        call_command("retention_cleanup", "0", stdout=StringIO(), stderr=StringIO())
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_health_check_still_answers_and_exits_1_when_the_database_is_down():
    from conftest import database_down

    out = StringIO()
    with database_down(), pytest.raises(SystemExit) as exc:
        call_command("health_check", stdout=out)
    assert exc.value.code == 1
    text = out.getvalue()
    assert "(not recorded): down: database unreachable: OperationalError\n" in text


@pytest.mark.django_db(transaction=True)
def test_alerting_check_exits_1_and_notifies_when_the_database_is_down(settings):
    from django.core import mail

    from conftest import database_down

    settings.ALERT_EMAILS = ["oncall@example.com"]
    out = StringIO()
    with database_down(), pytest.raises(SystemExit) as exc:
        call_command("alerting_check", stdout=out)
    assert exc.value.code == 1
    assert "level 3 (outage): database down" in out.getvalue()
    assert mail.outbox[0].subject == "[Timedify] level 3 (outage), was unknown"
