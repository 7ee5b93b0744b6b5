"""setup_schedules: idempotent, by name, timing from settings, next_run set explicitly."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO

import pytest
from croniter import croniter
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from timedify_ops.jobs import RUN_FUNC
from timedify_ops.models import JobRun
from timedify_ops.schedules import setup_schedules

pytestmark = pytest.mark.django_db

TITLES = {
    "Retention cleanup", "Dead-letter cleanup", "Health check", "Alerting check", "Sweeper", "Prune django-q2 results",
}


def _rows() -> list[tuple]:
    return list(
        Schedule.objects.order_by("pk").values_list("pk", "name", "func", "args", "schedule_type", "minutes", "cron", "next_run")
    )


def test_it_creates_each_schedule_once_and_running_twice_changes_nothing():
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    first = _rows()
    assert {row[1] for row in first} == TITLES
    assert all(row[2] == RUN_FUNC for row in first)
    assert "6 created" in out.getvalue()

    out = StringIO()
    call_command("setup_schedules", stdout=out)
    assert _rows() == first
    assert "0 created, 0 updated, 6 unchanged" in out.getvalue()
    assert JobRun.objects.filter(task="setup_schedules", trigger="command").count() == 2


def test_it_sets_intervals_and_cron_from_settings_with_next_run(settings):
    now = timezone.now()
    setup_schedules(now=now)
    health = Schedule.objects.get(name="Health check")
    assert (health.schedule_type, health.minutes) == (Schedule.MINUTES, 5)
    assert health.next_run == now + timedelta(minutes=5)
    sweeper = Schedule.objects.get(name="Sweeper")
    assert sweeper.minutes == 1
    retention = Schedule.objects.get(name="Retention cleanup")
    assert (retention.schedule_type, retention.cron) == (Schedule.CRON, "15 3 * * *")
    assert retention.next_run == croniter("15 3 * * *", now).get_next(datetime)
    assert retention.args == "'retention_cleanup'"


def test_it_updates_the_row_and_its_next_run_when_settings_change(settings):
    start = timezone.now()
    setup_schedules(now=start)
    ids = dict(Schedule.objects.values_list("name", "pk"))

    later = start + timedelta(minutes=1)
    settings.SCHEDULE_HEALTH_MINUTES = 15
    settings.SCHEDULE_RETENTION_CRON = "0 1 * * *"
    report = setup_schedules(now=later)

    assert sorted(report["updated"]) == ["Health check", "Retention cleanup"]
    health = Schedule.objects.get(name="Health check")
    assert health.pk == ids["Health check"]
    assert health.minutes == 15
    assert health.next_run == later + timedelta(minutes=15)
    retention = Schedule.objects.get(name="Retention cleanup")
    assert retention.cron == "0 1 * * *"
    assert retention.next_run == croniter("0 1 * * *", later).get_next(datetime)
    # Untouched timings keep their next run.
    assert Schedule.objects.get(name="Sweeper").next_run == start + timedelta(minutes=1)
    assert Schedule.objects.count() == 6


def test_it_leaves_other_schedules_alone_and_folds_duplicates_of_its_own():
    other = Schedule.objects.create(name="Someone's report", func="math.floor", args="1.5", schedule_type=Schedule.DAILY)
    Schedule.objects.create(name="Sweeper", func=RUN_FUNC, args="'sweeper'", schedule_type=Schedule.MINUTES, minutes=1)
    Schedule.objects.create(name="Sweeper", func=RUN_FUNC, args="'sweeper'", schedule_type=Schedule.MINUTES, minutes=1)

    setup_schedules()

    assert Schedule.objects.filter(name="Sweeper").count() == 1
    assert Schedule.objects.filter(pk=other.pk, func="math.floor").exists()
    assert Schedule.objects.count() == 7


def test_it_records_a_failed_run_and_exits_1_on_a_bad_cron_line(settings):
    settings.SCHEDULE_RETENTION_CRON = "every day at three"
    err = StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("setup_schedules", stdout=StringIO(), stderr=err)
    assert exc.value.code == 1
    run = JobRun.objects.get(task="setup_schedules")
    assert run.status == "failed"
    assert "ImproperlyConfigured" in run.traceback
    assert "every day at three" in run.summary
    assert not Schedule.objects.exists()
