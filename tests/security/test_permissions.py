"""The permission matrix of what exists: /health, the webhook endpoints, the admin login
and index, and every page of every model registered in the admin (so the dead-letter,
event and shop admins are covered as soon as they are registered), for anonymous, a
non-staff user, Viewer, Support and a superuser."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from conftest import shopify_headers
from tests.security.conftest import client_for

ROLES = ["anonymous", "nonstaff", "staff_no_perms", "viewer", "support", "superuser"]
# HOOK: the admin actions Support may run, by name (the dead-letter admin's replay, dry
# run, resolve and ignore); every other action (cleanup, routing, django-q2's resubmit,
# delete) must be hidden from Support. Viewer sees none.
SUPPORT_ACTIONS: set[str] = {"replay", "dry_run", "resolve", "ignore", "reopen"}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_it_serves_health_to_everyone_and_never_lets_a_session_sign_a_webhook(roles, role):
    client = client_for(roles[role])
    assert client.get("/health").status_code == 200
    body = json.dumps({"id": 1}).encode()
    for path in ("/webhooks/shopify/", "/webhooks/shopify/app/uninstalled/", "/webhooks/stripe/"):
        assert client.get(path).status_code == 405
        # A logged-in session is no substitute for a signature.
        assert client.post(path, data=body, content_type="application/json").status_code == 401
    signed = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=shopify_headers(body))
    assert signed.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "expected"), [
    ("anonymous", 302), ("nonstaff", 302), ("staff_no_perms", 200), ("viewer", 200), ("support", 200), ("superuser", 200),
])
def test_it_lets_only_staff_into_the_admin(roles, role, expected):
    client = client_for(roles[role])
    response = client.get("/admin/")
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"].startswith("/admin/login/")
    assert client.get("/admin/login/").status_code in (200, 302)


def _pages(model: type) -> dict[str, str]:
    info = (model._meta.app_label, model._meta.model_name)
    return {"changelist": reverse("admin:{}_{}_changelist".format(*info)), "add": reverse("admin:{}_{}_add".format(*info))}


def _expected(role: str, user: object, model: type, page: str) -> set[int]:
    if role in ("anonymous", "nonstaff"):
        return {302}
    request = RequestFactory().get("/admin/")
    request.user = user
    model_admin = admin.site._registry[model]
    allowed = model_admin.has_view_or_change_permission(request) if page == "changelist" else model_admin.has_add_permission(request)
    return {200} if allowed else {403}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_it_applies_model_permissions_on_every_registered_admin_page(roles, role):
    client = client_for(roles[role])
    wrong = []
    for model in admin.site._registry:
        for page, url in _pages(model).items():
            status = client.get(url).status_code
            if status not in _expected(role, roles[role], model, page):
                wrong.append(f"{role} GET {url}: {status}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.django_db
def test_it_gives_viewer_read_only_pages_and_superuser_everything(roles):
    models = [m for m in admin.site._registry if m._meta.app_label in ("webhooks", "deadletters", "timedify_ops", "django_q")]
    assert models, "no console model registered in the admin"
    viewer, superuser = client_for(roles["viewer"]), client_for(roles["superuser"])
    for model in models:
        pages = _pages(model)
        assert viewer.get(pages["changelist"]).status_code == 200, pages["changelist"]
        assert viewer.get(pages["add"]).status_code == 403, pages["add"]
        assert superuser.get(pages["changelist"]).status_code == 200, pages["changelist"]


@pytest.mark.django_db
def test_it_hides_every_admin_action_from_viewer_and_all_but_the_listed_ones_from_support(roles):
    factory = RequestFactory()
    for role, allowed in (("viewer", set()), ("support", SUPPORT_ACTIONS)):
        request = factory.get("/admin/")
        request.user = roles[role]
        for model, model_admin in admin.site._registry.items():
            if not model_admin.has_view_or_change_permission(request):
                continue  # the page itself answers 403 (test above)
            actions = set(model_admin.get_actions(request))
            assert actions <= allowed, f"{role} may run {actions - allowed} on {model._meta.label}"
