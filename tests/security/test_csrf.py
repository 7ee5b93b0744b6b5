"""CSRF is enforced on every state change of the admin; webhooks are exempt by design
(they are authenticated by their HMAC signature, not a session)."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from conftest import shopify_headers
from tests.security.conftest import PASSWORD


@pytest.fixture
def csrf_client(roles) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(roles["superuser"])
    return client


def token(client: Client, url: str) -> str:
    client.get(url)
    return client.cookies["csrftoken"].value


@pytest.mark.django_db
def test_it_refuses_a_login_post_without_the_csrf_token(roles):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_it_refuses_every_admin_add_post_without_the_csrf_token(csrf_client):
    refused = []
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
        if csrf_client.post(url, {}).status_code != 403:
            refused.append(url)
    assert not refused, f"accepted without a CSRF token: {refused}"


@pytest.mark.django_db
def test_it_refuses_actions_changes_and_logout_without_the_token_and_accepts_them_with_it(csrf_client, roles):
    group = Group.objects.create(name="Temp")
    changelist = reverse("admin:auth_group_changelist")
    action = {"action": "delete_selected", "_selected_action": [group.pk], "post": "yes"}
    assert csrf_client.post(changelist, action).status_code == 403
    assert csrf_client.post(reverse("admin:auth_group_change", args=[group.pk]), {"name": "Renamed"}).status_code == 403
    assert csrf_client.post("/admin/logout/").status_code == 403
    assert Group.objects.get(pk=group.pk).name == "Temp"
    # The same requests with the token go through: the 403s above were CSRF, not permissions.
    csrf = token(csrf_client, changelist)
    assert csrf_client.post(changelist, {**action, "csrfmiddlewaretoken": csrf}).status_code == 302
    assert not Group.objects.filter(pk=group.pk).exists()
    assert csrf_client.post("/admin/logout/", {"csrfmiddlewaretoken": csrf}).status_code == 200
    assert csrf_client.get("/admin/").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_it_accepts_signed_webhooks_without_a_csrf_token():
    client = Client(enforce_csrf_checks=True)
    body = json.dumps({"id": 1}).encode()
    response = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=shopify_headers(body))
    assert response.status_code == 200
