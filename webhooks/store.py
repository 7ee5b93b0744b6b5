"""Storing a verified delivery: one INSERT that is a no-op for a delivery already stored."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
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
    params = [field.get_db_prep_save(values[field.name], connection) for field in _fields(WebhookEvent, _INSERT_FIELDS)]
    if queue is None:
        return _fetch_id(_statements().insert, params)
    task_values = {"key": queue[0], "payload": queue[1], "lock": timezone.now()}
    task_params = [field.get_db_prep_save(task_values[field.name], connection) for field in _fields(OrmQ, _TASK_FIELDS)]
    if connection.vendor == "postgresql":
        # One statement, one round trip, one commit: the task row exists iff the event row
        # was inserted by this statement.
        return _fetch_id(_statements().insert_with_task, [*params, *task_params])
    with transaction.atomic():
        event_pk = _fetch_id(_statements().insert, params)
        if event_pk is not None:
            with connection.cursor() as cursor:
                cursor.execute(_statements().task, task_params)
    return event_pk


_TASK_FIELDS = ("key", "payload", "lock")


@functools.cache
def _fields(model: Any, names: tuple[str, ...]) -> list[Field[Any, Any]]:
    found = []
    for name in names:
        field = model._meta.get_field(name)
        assert isinstance(field, Field)
        found.append(field)
    return found


@dataclass(frozen=True)
class _Statements:
    insert: str
    insert_with_task: str
    task: str


@functools.cache
def _statements_for(vendor: str) -> _Statements:
    """The intake's SQL, built once per process: only quoted names are interpolated, every
    value is a parameter."""
    qn = connection.ops.quote_name

    def columns(model: Any, names: tuple[str, ...]) -> tuple[str, str, str]:
        fields = _fields(model, names)
        return qn(model._meta.db_table), ", ".join(qn(f.column) for f in fields), ", ".join(["%s"] * len(fields))

    table, cols, marks = columns(WebhookEvent, _INSERT_FIELDS)
    insert = (
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) "  # noqa: S608
        f"ON CONFLICT ({qn('provider')}, {qn('webhook_id')}) DO NOTHING RETURNING {qn('id')}"
    )
    task_table, task_cols, task_marks = columns(OrmQ, _TASK_FIELDS)
    return _Statements(
        insert=insert,
        insert_with_task=(
            f"WITH ev AS ({insert}), "  # noqa: S608
            f"task AS (INSERT INTO {task_table} ({task_cols}) SELECT {task_marks} FROM ev) "
            f"SELECT {qn('id')} FROM ev"
        ),
        task=f"INSERT INTO {task_table} ({task_cols}) VALUES ({task_marks})",  # noqa: S608
    )


def _statements() -> _Statements:
    return _statements_for(connection.vendor)


def _fetch_id(sql: str, params: list[Any]) -> int | None:
    if connection.vendor == "postgresql":
        return _fetch_id_prepared(sql, params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _fetch_id_prepared(sql: str, params: list[Any]) -> int | None:
    """PostgreSQL: the statement as a prepared statement with server-side parameters, on
    Django's own connection, without the per-request health check.

    Django's cursors bind parameters on the client (each value quoted in Python) and, with
    CONN_HEALTH_CHECKS, send a `SELECT 1` before the first query of every request; the
    profile in docs/benchmarks.md put the two at a fifth of the intake's CPU. A prepared
    statement is parsed and planned once per connection. The health check's job is done
    here by trying once more on a fresh connection when the kept one turns out dead
    (the database restarted): ON CONFLICT DO NOTHING makes the second try safe, and if the
    first did commit, the second finds the delivery stored and answers "duplicate".
    Errors are Django's (DatabaseError), as from any other query.
    """
    for last_try in (False, True):
        reused = connection.connection is not None
        try:
            with connection.wrap_database_errors:
                connection.ensure_connection()
                with psycopg.Cursor(connection.connection) as cursor:
                    cursor.execute(sql, params, prepare=True)
                    row = cursor.fetchone()
            return int(row[0]) if row else None
        except (OperationalError, InterfaceError):
            # Only a connection that is gone is tried again: a timeout, a lock or a full
            # disk on a live one would only be met twice (and the answer come later).
            raw = connection.connection
            gone = raw is None or raw.closed or raw.broken
            if last_try or not reused or not gone or connection.in_atomic_block:
                raise
            logger.warning("the kept database connection was dead; trying once more on a new one")
            connection.close()
    raise AssertionError("unreachable")


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

