"""The operations app's answer to customers/redact: the free texts kept here and in the
apps it runs (the admin log, django-q2's task rows, our job runs) lose the customer's
identifying strings. None of them should hold any (audit lines name ids and outcomes),
so this is the safety net for older rows and for what a crashed task left behind."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import LogEntry
from django.dispatch import receiver
from django_q.models import Task

from timedify_ops.models import JobRun
from webhooks.erasure import needle_pattern, replace_text, scrub_texts
from webhooks.signals import customer_redacted


def _scrub_tasks(needles: list[str]) -> int:
    """django-q2 pickles a task's arguments and result, so the database cannot search
    them: rows are read here. Few: event tasks are not saved, failures are pruned."""
    pattern = needle_pattern(needles)
    if pattern is None:
        return 0
    changed = 0
    for task in Task.objects.only("pk", "name", "args", "kwargs", "result").iterator(chunk_size=200):
        values = {"name": task.name, "args": task.args, "kwargs": task.kwargs, "result": task.result}
        clean = {
            key: tuple(replace_text(list(value), pattern)) if isinstance(value, tuple) else replace_text(value, pattern)
            for key, value in values.items()
        }
        if clean != values:
            for key, value in clean.items():
                setattr(task, key, value)
            task.save(update_fields=list(clean))
            changed += 1
    return changed


@receiver(customer_redacted, dispatch_uid="timedify_ops.scrub_customer")
def scrub_customer(sender: type, needles: list[str], **kwargs: Any) -> int:
    changed = scrub_texts(LogEntry.objects.all(), ["change_message", "object_repr"], needles)
    changed += scrub_texts(JobRun.objects.all(), ["summary", "details", "traceback"], needles)
    return changed + _scrub_tasks(needles)
