"""Admin login throttling (django-axes) and the admin session timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from tests.security.conftest import PASSWORD


@pytest.fixture
def throttled(settings, fast_hasher):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def login(client: Client, password: str, username: str = "root"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password, "next": "/admin/"})


@pytest.mark.django_db
def test_it_locks_out_the_nth_failed_login_and_refuses_the_right_password_until_the_cool_off(throttled, django_user_model):
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    assert [login(client, "wrong").status_code for _ in range(2)] == [200, 200]  # the form again, with an error
    assert login(client, "wrong").status_code == 429  # the 3rd failure locks out
    locked = login(client, PASSWORD)
    assert locked.status_code == 429
    assert client.get("/admin/").status_code == 302  # not logged in
    # Another username from the same address is not locked out by this one's failures.
    django_user_model.objects.create_superuser("other", password=PASSWORD)
    assert login(Client(), PASSWORD, username="other").status_code == 302
    # Once the cool-off has passed, the right password works again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(hours=1))
    assert login(client, PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_it_resets_the_failure_count_after_a_successful_login(throttled, django_user_model):
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    login(client, "wrong")
    login(client, "wrong")
    assert login(client, PASSWORD).status_code == 302
    client.logout()
    assert [login(client, "wrong").status_code for _ in range(2)] == [200, 200]


@pytest.mark.django_db
def test_it_ends_admin_sessions_after_the_session_age_and_at_browser_close(settings, django_user_model, fast_hasher):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert not cookie["max-age"] and not cookie["expires"]  # a browser-session cookie
    assert cookie["httponly"]
    expiry = client.session.get_expiry_date()
    assert abs(expiry - (timezone.now() + timedelta(hours=8))) < timedelta(minutes=1)
