"""Schedules staff can use: a Run now button per row and page, the last run on the row,
the cadence in words, the schedule's name as its title, quiet sweeper runs hidden."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.urls import reverse
from django_q.models import Schedule
from hypothesis import given
from hypothesis import strategies as st

from timedify_ops import jobs
from timedify_ops.cadence import cadence, cron_words
from timedify_ops.models import JobRun
from timedify_ops.schedules import setup_schedules

CHANGELIST = "/admin/django_q/schedule/"
RUNS = "/admin/timedify_ops/jobrun/"


@pytest.mark.django_db
def test_it_runs_a_schedule_from_its_row_button_and_shows_the_result_on_the_row(admin_client, admin_user):
    setup_schedules()
    health = Schedule.objects.get(name="Health check")
    listing = admin_client.get(f"{CHANGELIST}?q=Health").content.decode()
    run_now = reverse("admin:django_q_schedule_run_now", args=[health.pk])
    assert f'formaction="{run_now}"' in listing and "never" in listing

    response = admin_client.post(run_now, HTTP_REFERER=f"http://testserver{CHANGELIST}?q=Health", follow=True)
    run = JobRun.objects.get(task="health_check")
    assert (run.trigger, run.triggered_by, run.schedule) == ("admin", admin_user, health)
    assert response.redirect_chain[-1][0] == f"http://testserver{CHANGELIST}?q=Health"  # back where it was pressed
    text = response.content.decode()
    assert f"Health check: {run.status}: {run.summary}" in text
    # The row now shows that run: its time, its outcome, a link to it.
    assert reverse("admin:timedify_ops_jobrun_change", args=[run.pk]) in text
    assert f"kit-badge-{'warn' if run.status == 'warning' else 'ok'}" in text


@pytest.mark.django_db
def test_it_answers_a_get_of_run_now_with_the_list_and_runs_nothing(admin_client):
    setup_schedules()
    health = Schedule.objects.get(name="Health check")
    response = admin_client.get(reverse("admin:django_q_schedule_run_now", args=[health.pk]), follow=True)
    assert response.status_code == 200
    assert "Nothing was run" in response.content.decode()
    assert not JobRun.objects.exists()


@pytest.mark.django_db
def test_the_schedule_page_is_titled_by_its_name_and_has_a_run_now_button(admin_client):
    setup_schedules()
    sweeper = Schedule.objects.get(name="Sweeper")
    page = admin_client.get(f"{CHANGELIST}{sweeper.pk}/change/").content.decode()
    assert "<h1>Sweeper</h1>" in page
    assert 'id="run-now"' in page and "every minute" in page


@pytest.mark.django_db
def test_it_hides_sweeper_runs_that_found_nothing_unless_asked(admin_client):
    quiet = jobs.execute("sweeper", trigger="command")
    assert set(quiet.details.values()) == {0}  # it found nothing to do
    busy = JobRun.objects.create(task="sweeper", status="ok", details={**quiet.details, "requeued": 2})
    older = JobRun.objects.create(task="sweeper", status="ok", details={"requeued": 0, "replay_batches_resumed": 0})
    health = JobRun.objects.create(task="health_check", status="ok", details={})
    shown = {r.pk for r in admin_client.get(RUNS).context["cl"].result_list}
    assert shown == {busy.pk, health.pk}
    everything = {r.pk for r in admin_client.get(RUNS, {"quiet": "show"}).context["cl"].result_list}
    assert everything == {quiet.pk, older.pk, busy.pk, health.pk}


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_run_history_as_it_opens_is_read_from_its_partial_index(admin_client):
    # The index's condition is the filter's own: the planner can answer the list from it
    # alone (a seq scan is ruled out so that a tiny table cannot hide a mismatch).
    JobRun.objects.create(task="health_check", status="ok", details={})
    request = admin_client.get(RUNS).wsgi_request
    runs = admin.site._registry[JobRun].get_changelist_instance(request).get_queryset(request)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = runs.order_by("-started_at")[:100].explain()
    assert "ops_jobrun_shown" in plan


def test_it_says_the_cadence_in_words():
    assert cadence(Schedule(schedule_type=Schedule.MINUTES, minutes=5)) == "every 5 minutes"
    assert cadence(Schedule(schedule_type=Schedule.MINUTES, minutes=1)) == "every minute"
    assert cadence(Schedule(schedule_type=Schedule.DAILY)) == "every day"
    assert cadence(Schedule(schedule_type=Schedule.CRON, cron="30 3 * * *")) == "every day at 03:30 UTC"
    assert cron_words("*/15 * * * *") == "every 15 minutes"
    assert cron_words("0 3 * * 1") == "cron 0 3 * * 1"  # a shape with no words yet stays exact


@given(st.integers(0, 23), st.integers(0, 59))
def test_it_words_every_daily_cron_line_with_its_clock_time(hour, minute):
    assert cron_words(f"{minute} {hour} * * *") == f"every day at {hour:02d}:{minute:02d} UTC"
