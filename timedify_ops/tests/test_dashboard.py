"""The ops dashboard in the admin, its pause/resume buttons and the admin index strip."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.utils import timezone

from deadletters.models import DeadLetter
from timedify_ops.models import JobRun
from webhooks.models import ForwardDestination, WebhookEvent

URL = "/admin/ops/dashboard/"


@pytest.fixture(autouse=True)
def _no_cache(settings):
    settings.OPS_SLO_CACHE_SECONDS = 0


@pytest.fixture
def seeded(db):
    now = timezone.now()
    for i in range(20):
        WebhookEvent.objects.create(topic="orders/create", webhook_id=f"d-{i}", received_at=now,
                                    status="dead" if i == 0 else "processed", ack_latency_ms=5.0 + i)
    event = WebhookEvent.objects.get(webhook_id="d-0")
    DeadLetter.objects.create(event=event, topic="orders/create", error_class="KeyError",
                              error_message="'sku'", fingerprint="abc123")
    JobRun.objects.create(
        task="health_check", status="warning",
        details={"status": "degraded", "reasons": ["queue is 900 s behind"], "checks": {}},
    )


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("support", password="pw-123456", is_staff=True)
    client.force_login(user)
    client.user = user
    return client


def test_it_shows_status_charts_with_slo_lines_and_dead_letter_links(admin_client, seeded):
    response = admin_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert "System health: <strong>DEGRADED</strong>" in html
    assert html.count("queue is 900 s behind") == 1
    assert html.count("<svg class=\"ops-chart\"") == 6
    # The error rate (5 %) is above its SLO (0.5 %): the SLO line is drawn. Latency (5-24 ms)
    # is far below its SLOs: the axis fits the data and the legend names the SLO lines above it.
    assert 'data-slo="error rate"' in html and 'data-slo="p95"' not in html
    assert 'data-legend="SLO p95 100 ms (above)"' in html and 'data-legend="SLO p99 500 ms (above)"' in html
    assert 'http-equiv="refresh" content="30"' in html
    assert "/admin/deadletters/deadletter/?status__in=open%2Creplaying&amp;topic=orders%2Fcreate" in html
    assert "/admin/deadletters/deadletter/?status__in=open%2Creplaying&amp;fingerprint=abc123" in html
    assert "20 events, 1 errors" in html


def test_it_says_the_database_section_is_postgresql_only_on_sqlite(admin_client, seeded, on_postgres):
    html = admin_client.get(URL).content.decode()
    if on_postgres:
        assert "Waiting locks:" in html
    else:
        assert "Not available on sqlite" in html


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_it_pauses_and_resumes_a_destination_and_logs_it(admin_client, django_user_model):
    destination = ForwardDestination.objects.create(name="app-orders", url="http://127.0.0.1:9/", state="open")

    html = admin_client.get(URL).content.decode()
    # Pause asks first, with a note: the button opens the destination admin's confirmation.
    assert 'value="pause_breakers"' in html and f'name="_selected_action" value="{destination.pk}"' in html
    form = {"action": "pause_breakers", "_selected_action": destination.pk, "next": f"{URL}#breakers"}
    asked = admin_client.post("/admin/webhooks/forwarddestination/", form)
    assert asked.status_code == 200 and "Note (required)" in asked.content.decode()
    response = admin_client.post("/admin/webhooks/forwarddestination/", {**form, "post": "yes", "note": "app deploy"})

    assert response.status_code == 302 and response["Location"] == f"{URL}#breakers"
    destination.refresh_from_db()
    assert destination.paused is True
    entry = LogEntry.objects.get(object_id=str(destination.pk))
    assert entry.change_message == "Paused: app deploy"

    admin_client.post(f"/admin/ops/breakers/{destination.pk}/resume/")
    destination.refresh_from_db()
    assert destination.paused is False
    assert LogEntry.objects.filter(object_id=str(destination.pk)).count() == 2


@pytest.mark.django_db
def test_it_logs_nothing_when_the_destination_already_was_running(admin_client):
    destination = ForwardDestination.objects.create(name="app", url="http://127.0.0.1:9/", paused=False)
    admin_client.post(f"/admin/ops/breakers/{destination.pk}/resume/")
    assert LogEntry.objects.count() == 0


@pytest.mark.django_db
def test_pausing_has_one_path_and_it_asks_for_a_note(admin_client):
    """The dashboard once had a pause URL of its own that took no note; pausing is now only
    the destination admin's action, which asks for one."""
    destination = ForwardDestination.objects.create(name="app", url="http://127.0.0.1:9/")
    assert admin_client.post(f"/admin/ops/breakers/{destination.pk}/pause/").status_code == 404
    destination.refresh_from_db()
    assert destination.paused is False


@pytest.mark.django_db
def test_it_refuses_resume_without_the_change_permission(staff_client):
    destination = ForwardDestination.objects.create(name="app", url="http://127.0.0.1:9/", paused=True)

    html = staff_client.get(URL).content.decode()
    assert "Resume" not in html and "Pause" not in html
    response = staff_client.post(f"/admin/ops/breakers/{destination.pk}/resume/")

    assert response.status_code == 403
    destination.refresh_from_db()
    assert destination.paused is True

    staff_client.user.user_permissions.add(Permission.objects.get(codename="change_forwarddestination"))
    staff_client.post(f"/admin/ops/breakers/{destination.pk}/resume/")
    destination.refresh_from_db()
    assert destination.paused is False


@pytest.mark.django_db
def test_it_refuses_resume_by_get(admin_client):
    destination = ForwardDestination.objects.create(name="app", url="http://127.0.0.1:9/", paused=True)
    assert admin_client.get(f"/admin/ops/breakers/{destination.pk}/resume/").status_code == 405


@pytest.mark.django_db
def test_it_refuses_a_post_without_csrf_token(django_user_model):
    from django.test import Client

    user = django_user_model.objects.create_superuser("boss", password="pw-123456")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    destination = ForwardDestination.objects.create(name="app", url="http://127.0.0.1:9/", paused=True)
    assert client.post(f"/admin/ops/breakers/{destination.pk}/resume/").status_code == 403
    destination.refresh_from_db()
    assert destination.paused is True


def test_it_shows_the_status_strip_on_the_admin_index(admin_client, seeded):
    html = admin_client.get("/admin/").content.decode()

    assert 'id="ops-status-strip"' in html
    assert "System health: DEGRADED" in html
    assert "Open dead letters: <strong>1</strong>" in html
    assert "Errors, last 5 min: <strong>5.00 %</strong> of 20 events" in html
    assert 'href="/admin/ops/dashboard/"' in html
    assert html.index("ops-status-strip") < html.index("id=\"content-main\"")


@pytest.mark.django_db
def test_it_shows_every_schedule_with_its_last_and_next_run(admin_client):
    from django_q.models import Schedule

    schedule = Schedule.objects.create(name="health check", func="timedify_ops.jobs.health_check",
                                       next_run=timezone.now())
    JobRun.objects.create(task="health_check", schedule=schedule, status="failed", summary="database unreachable")

    html = admin_client.get(URL).content.decode()

    section = html[html.index('id="schedules"'):]
    assert "health check" in section
    assert '<td class="missed">failed</td>' in section
    assert "database unreachable" in section
