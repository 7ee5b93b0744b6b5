"""Roles of the console for the security tests: anonymous, a non-staff user, Viewer,
Support and a superuser.

HOOK for the admin owners: when the project creates the Viewer and Support groups (a
migration and a post_migrate top-up), `roles` uses them as they are; `ROLE_PERMISSIONS` is
only the fallback for a database without them, and mirrors them. The admin actions Support
may run are listed in `SUPPORT_ACTIONS` (test_permissions.py): every other action must be
hidden from Support, and every action from Viewer.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.db.models import Q
from django.test import Client

PASSWORD = "correct horse battery staple 8"  # noqa: S105
CONSOLE_APPS = ("webhooks", "deadletters", "timedify_ops", "django_q")
ROLE_PERMISSIONS: dict[str, Q] = {
    # Read-only: every view permission of the console's apps.
    "Viewer": Q(content_type__app_label__in=CONSOLE_APPS, codename__startswith="view_"),
    # Viewer plus the dead-letter workflow (replay, resolve, ignore).
    "Support": Q(content_type__app_label__in=CONSOLE_APPS, codename__startswith="view_")
    | Q(content_type__app_label="deadletters", codename__in=["replay_deadletter", "resolve_deadletter"]),
}


@pytest.fixture
def fast_hasher(settings: Any) -> None:
    # Six users per test: the production hasher would spend seconds on them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def roles(db: Any, django_user_model: Any, fast_hasher: None) -> dict[str, Any]:
    """One user per role (None for anonymous)."""
    users: dict[str, Any] = {"anonymous": None}
    users["nonstaff"] = django_user_model.objects.create_user("nonstaff", password=PASSWORD)
    for name, perms in ROLE_PERMISSIONS.items():
        group, created = Group.objects.get_or_create(name=name)
        if created:
            group.permissions.set(Permission.objects.filter(perms))
        user = django_user_model.objects.create_user(name.lower(), password=PASSWORD, is_staff=True)
        user.groups.add(group)
        users[name.lower()] = user
    users["staff_no_perms"] = django_user_model.objects.create_user("bare", password=PASSWORD, is_staff=True)
    users["superuser"] = django_user_model.objects.create_superuser("root", password=PASSWORD)
    return users


def client_for(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client
