"""Storing a verified delivery: one INSERT that is a no-op for a delivery already stored."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Field
from django.utils import timezone
from django_q.models import OrmQ

from webhooks import textsafe
from webhooks.models import EventStatus, RejectedDelivery, WebhookEvent

logger = logging.getLogger(__name__)

_INSERT_FIELDS = (
    "provider", "topic", "shop_domain", "webhook_id", "event_id", "api_version", "triggered_at",
    "received_at", "headers", "payload", "status", "attempts", "last_error", "ack_latency_ms",
    "last_enqueued_at", "synthetic",
)


def insert_event(*, queue: tuple[str, str] | None = None, **values: Any) -> int | None:
    """Insert one event; return its id, or None when (provider, webhook_id) is already stored.

    `INSERT ... ON CONFLICT DO NOTHING RETURNING id` is a single atomic statement on both
    PostgreSQL and SQLite (3.35+), so two copies arriving at the same moment store one row
    and neither request fails. Under autocommit the row is committed when this returns.

    `queue` is (queue name, signed package) of a django-q2 task for the ORM broker's table,
    written only when the event row is new, and committed with it: on PostgreSQL by the
    same statement (a data-modifying WITH), on SQLite by a second INSERT in one transaction.
    """
    values.setdefault("received_at", timezone.now())
    values.setdefault("status", EventStatus.RECEIVED)
    values.setdefault("attempts", 0)
    values.setdefault("last_error", "")
    values.setdefault("event_id", "")
    values.setdefault("api_version", "")
    values.setdefault("shop_domain", "")
    values.setdefault("triggered_at", None)
    values.setdefault("headers", {})
    values.setdefault("ack_latency_ms", None)
    values.setdefault("last_enqueued_at", values["received_at"])
    values.setdefault("synthetic", False)
    qn = connection.ops.quote_name
    table, columns, params = _columns(WebhookEvent, _INSERT_FIELDS, values)
    # Only quoted names are interpolated; every value is a parameter.
    insert = (
        f"INSERT INTO {table} ({columns}) VALUES ({_placeholders(params)}) "  # noqa: S608
        f"ON CONFLICT ({qn('provider')}, {qn('webhook_id')}) DO NOTHING RETURNING {qn('id')}"
    )
    if queue is None:
        return _fetch_id(insert, params)
    task_values = {"key": queue[0], "payload": queue[1], "lock": timezone.now()}
    task_table, task_columns, task_params = _columns(OrmQ, ("key", "payload", "lock"), task_values)
    if connection.vendor == "postgresql":
        # One statement, one round trip, one commit: the task row exists iff the event row
        # was inserted by this statement.
        sql = (
            f"WITH ev AS ({insert}), "  # noqa: S608
            f"task AS (INSERT INTO {task_table} ({task_columns}) SELECT {_placeholders(task_params)} FROM ev) "
            f"SELECT {qn('id')} FROM ev"
        )
        return _fetch_id(sql, [*params, *task_params])
    with transaction.atomic():
        event_pk = _fetch_id(insert, params)
        if event_pk is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO {task_table} ({task_columns}) VALUES ({_placeholders(task_params)})", task_params)  # noqa: S608
    return event_pk


def _columns(model: type[Any], names: tuple[str, ...], values: dict[str, Any]) -> tuple[str, str, list[Any]]:
    """(quoted table, quoted column list, prepared values) of these fields of a model."""
    meta = model._meta
    columns, params = [], []
    for name in names:
        field = meta.get_field(name)
        assert isinstance(field, Field)
        columns.append(connection.ops.quote_name(field.column))
        params.append(field.get_db_prep_save(values[name], connection))
    return connection.ops.quote_name(meta.db_table), ", ".join(columns), params


def _placeholders(params: list[Any]) -> str:
    return ", ".join(["%s"] * len(params))


def _fetch_id(sql: str, params: list[Any]) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0]) if row else None


def count_rejection(provider: str, reason: str, *, at: datetime | None = None) -> None:
    """Add one to the hourly counter of refused deliveries. Never raises: a refusal must
    still be answered when the counter cannot be written."""
    hour = (at or timezone.now()).replace(minute=0, second=0, microsecond=0)
    try:
        provider = textsafe.for_field(RejectedDelivery, "provider", provider)
        reason = textsafe.for_field(RejectedDelivery, "reason", reason)
        bucket = RejectedDelivery.objects.filter(provider=provider, reason=reason, hour=hour)
        if bucket.update(count=F("count") + 1):
            return
        try:
            with transaction.atomic():
                RejectedDelivery.objects.create(provider=provider, reason=reason, hour=hour, count=1)
        except IntegrityError:  # another request created the bucket first
            bucket.update(count=F("count") + 1)
    except Exception:  # noqa: BLE001 - counting is best effort, the answer is not
        logger.warning("could not count a rejected %s delivery (%s)", provider, reason, exc_info=True)

