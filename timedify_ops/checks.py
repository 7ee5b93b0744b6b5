"""System checks for settings combinations that would fail later and obscurely."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from timedify_ops.env import DECLARED


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    q = settings.Q_CLUSTER
    if int(q["timeout"]) >= int(q["retry"]):
        problems.append(
            Error(
                f"Q_TIMEOUT ({q['timeout']}) must be below Q_RETRY ({q['retry']}), or a slow task runs twice.",
                id="timedify_ops.E001",
            )
        )
    if "orm" not in q and "redis" not in q:
        problems.append(Error("Q_CLUSTER names no broker; django-q2 would assume Redis.", id="timedify_ops.E002"))
    if settings.TIME_ZONE != "UTC":
        problems.append(Error("TIME_ZONE must be UTC: stored times and buckets assume it.", id="timedify_ops.E003"))
    if not settings.SHOPIFY_API_SECRET:
        problems.append(
            Warning(
                "SHOPIFY_API_SECRET is empty: every Shopify delivery will be refused with 401.",
                id="timedify_ops.W001",
            )
        )
    if settings.WEBHOOK_LEASE_SECONDS <= int(q["timeout"]):
        problems.append(
            Error(
                "WEBHOOK_LEASE_SECONDS must exceed Q_TIMEOUT, or a running event could be claimed twice.",
                id="timedify_ops.E004",
            )
        )
    return problems


@register()
def check_numeric_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every numeric setting within the range its environment variable declares
    (timedify_ops/env.py), also when it was set some other way than the environment."""
    problems: list[CheckMessage] = []
    for name, bounds in DECLARED.items():
        if not hasattr(settings, name):
            continue  # read into another setting (Q_WORKERS is Q_CLUSTER["workers"])
        value = getattr(settings, name)
        if value is None:
            continue  # Django's "off" (AXES_IPWARE_PROXY_COUNT 0 is stored as None)
        for item in value if isinstance(value, list | tuple) else [value]:
            problem = bounds.problem(item)
            if problem:
                problems.append(Error(f"{name}: {problem}", id="timedify_ops.E010"))
                break
    return problems
