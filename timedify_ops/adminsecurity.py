"""Permission gaps in third-party admin pages, closed at start-up.

django-q2's "Resubmit selected tasks to queue" action declares no permissions, so Django
offers it to anyone who may view the task lists, the read-only Viewer role included; on
the Failed tasks page it also deletes the rows it resubmits. It now needs the change
permission of the task model (superusers, or a group given it on purpose).
"""

from __future__ import annotations


def require_change_permission_for_task_resubmit() -> None:
    from django_q import admin as django_q_admin

    action = getattr(django_q_admin, "resubmit_task", None)
    if action is not None and not getattr(action, "allowed_permissions", None):
        action.allowed_permissions = ("change",)
