"""Admin: "Run now" on django-q2's schedules, the run history, the JobRun pages."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django_q.brokers import get_broker
from django_q.models import Schedule

from timedify_ops import jobs
from timedify_ops.admin import TimedifyScheduleAdmin
from timedify_ops.models import JobRun
from timedify_ops.schedules import setup_schedules
from timedify_ops.tests.conftest import make_event

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/django_q/schedule/"


def _run_now(client, *schedules):
    return client.post(
        CHANGELIST, {"action": "run_now", "_selected_action": [s.pk for s in schedules]}, follow=True
    )


def test_it_replaces_django_q_schedule_admin_keeping_its_columns():
    model_admin = admin.site._registry[Schedule]
    assert isinstance(model_admin, TimedifyScheduleAdmin)
    assert {"next_run", "get_last_run", "get_success", "run_history"} <= set(model_admin.list_display)


def test_every_defined_action_is_registered(rf, admin_user):
    request = rf.get(CHANGELIST)
    request.user = admin_user
    registered = admin.site._registry[Schedule].get_actions(request)
    defined = {n for n in dir(TimedifyScheduleAdmin) if hasattr(getattr(TimedifyScheduleAdmin, n), "allowed_permissions")}
    assert defined and defined <= set(registered)


def test_it_runs_a_quick_job_now_and_shows_its_result(admin_client, admin_user):
    setup_schedules()
    sweeper = Schedule.objects.get(name="Sweeper")
    make_event(status="received")

    response = _run_now(admin_client, sweeper)

    run = JobRun.objects.get(task="sweeper")
    assert (run.trigger, run.triggered_by, run.schedule, run.status) == ("admin", admin_user, sweeper, "ok")
    assert run.details == {"requeued": 1, "replay_batches_resumed": 0, "subjects_indexed": 0}
    text = response.content.decode()
    assert "1 schedule run." in text
    assert reverse("admin:timedify_ops_jobrun_change", args=[run.pk]) in text
    assert "swept 1 events (taken back from a dead worker or re-enqueued)" in text
    assert LogEntry.objects.filter(object_id=str(sweeper.pk), change_message__startswith="Run now: ok").count() == 1


def test_it_queues_a_slow_job_and_links_to_its_run(admin_client, admin_user):
    setup_schedules()
    retention = Schedule.objects.get(name="Retention cleanup")
    broker = get_broker()
    depth = broker.queue_size()

    response = _run_now(admin_client, retention)

    run = JobRun.objects.get(task="retention_cleanup")
    assert (run.status, run.summary, run.schedule) == ("running", "queued, waiting for a worker", retention)
    assert broker.queue_size() == depth + 1
    # On Redis the queue outlives the test transaction: take the task back out.
    broker.purge_queue()
    assert reverse("admin:timedify_ops_jobrun_change", args=[run.pk]) in response.content.decode()
    # What the worker then does with the queued task:
    assert jobs.run("retention_cleanup", trigger="admin", run_id=run.pk).startswith("ok: deleted 0 events")
    run.refresh_from_db()
    assert (run.status, run.triggered_by, run.schedule) == ("ok", admin_user, retention)


def test_it_skips_schedules_that_run_no_job_of_ours(admin_client):
    other = Schedule.objects.create(name="Other", func="math.floor", args="1.5", schedule_type=Schedule.DAILY)
    response = _run_now(admin_client, other)
    assert "0 schedules run. 1 other skipped: not a job of this console." in response.content.decode()
    assert not JobRun.objects.exists()


def test_it_links_each_schedule_to_its_run_history(admin_client):
    setup_schedules()
    health = Schedule.objects.get(name="Health check")
    jobs.execute("health_check", trigger="admin", schedule=health, targets={})
    jobs.execute("sweeper", trigger="command")
    text = admin_client.get(CHANGELIST).content.decode()
    link = f"/admin/timedify_ops/jobrun/?schedule__id__exact={health.pk}"
    assert link in text
    history = admin_client.get(link)
    assert history.status_code == 200
    assert list(history.context["cl"].result_list) == [JobRun.objects.get(task="health_check")]
    change = admin_client.get(f"{CHANGELIST}{health.pk}/change/")
    assert change.status_code == 200 and link in change.content.decode()


def test_it_shows_a_failed_run_with_its_traceback_and_pretty_details(admin_client, settings):
    settings.SCHEDULE_SWEEPER_MINUTES = 1
    settings.SCHEDULE_HEALTH_MINUTES = 5
    settings.SCHEDULE_RETENTION_CRON = "not a cron line"
    run = jobs.execute("setup_schedules", trigger="command")
    ok = jobs.execute("sweeper", trigger="command")

    page = admin_client.get(reverse("admin:timedify_ops_jobrun_change", args=[run.pk])).content.decode()
    assert "Traceback (most recent call last)" in page
    assert "ImproperlyConfigured" in page
    page = admin_client.get(reverse("admin:timedify_ops_jobrun_change", args=[ok.pk])).content.decode()
    assert "&quot;requeued&quot;: 0" in page

    listing = admin_client.get("/admin/timedify_ops/jobrun/?status__exact=failed&task=setup_schedules")
    assert list(listing.context["cl"].result_list) == [run]
    assert admin_client.get("/admin/timedify_ops/jobrun/add/").status_code == 403


def test_a_failing_scheduled_run_is_raised_for_django_q_to_record(settings):
    settings.SCHEDULE_RETENTION_CRON = "not a cron line"
    with pytest.raises(RuntimeError, match="setup_schedules failed"):
        jobs.run("setup_schedules")
    assert JobRun.objects.get(task="setup_schedules").status == "failed"
