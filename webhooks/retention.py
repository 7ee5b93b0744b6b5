"""Deleting events in short, paced batches: the events table's part of retention.

One batch, lowest ids first:
1. Select the next `batch_size` candidate ids after the previous batch's highest id
   (keyset: rows that are kept are walked past once), with the caller's filters. Ids
   only; no row is loaded into Python.
2. In one transaction: DELETE the candidates that are still finished and that no PROTECT
   row points at (the caller's `deletable`), RETURNING their ids. This re-check is what makes step 1 safe to run
   without locks: a candidate claimed or dead-lettered since then is skipped. Then delete
   the attempts (CASCADE) and clear the exports (SET_NULL) of exactly the deleted ids.
3. Pause (RETENTION_PAUSE_SECONDS), so live ingest gets the database back.

Why the events go before their dependents: the attempt and export foreign keys have no
database constraint (see EventAttempt.event), so the order is ours to choose, and deleting
the event rows first takes their row locks before the dependents are read. A worker
writing an attempt holds its event row (the claim UPDATE) in the same transaction: either
it committed before our DELETE reached the row, and its attempt is visible to our next
statement, or it waits for us and then finds the event gone, and writes nothing. So no
attempt or export outlives its event.

The dead letters' foreign key stays a real one (PROTECT; ON DELETE RESTRICT on
PostgreSQL): if a dead letter is committed for a candidate after the DELETE's snapshot
was taken (the writer held the event row, our DELETE waited for it and then went ahead),
the database refuses the batch; the batch is rolled back and run again, and the re-check
then keeps that event.

This module sits below webhooks.models (whose `delete_in_batches` and `deletable` call it)
and names no model: the rule of what may be deleted comes from the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from django.db import IntegrityError, connections, models, transaction
from django.db.models import BooleanField, F, Func, Value, sql

# A batch refused this many times in a row (a dead letter created for one of its events
# each time) stops the run with the error: something is wrong beyond a race.
MAX_BATCH_RETRIES = 3
QS = TypeVar("QS", bound=models.QuerySet[Any])


@dataclass
class Deletion:
    """What a batched deletion did: rows per table (model label), batches, pauses."""

    deleted: dict[str, int] = field(default_factory=dict)
    batch_size: int = 0
    batches: int = 0
    retried: int = 0  # batches refused by the database (a dead letter raced in) and run again
    pauses: int = 0
    pause_seconds: float = 0.0  # the pause asked for between two batches

    def add(self, label: str, count: int) -> None:
        self.deleted[label] = self.deleted.get(label, 0) + count


def relations(model: type[models.Model], on_delete: Callable[..., None]) -> list[tuple[type[models.Model], str]]:
    """(model, foreign key name) of every relation pointing at `model` with this on_delete."""
    return [
        (cast(type[models.Model], rel.related_model), rel.field.name)
        for rel in model._meta.related_objects
        if rel.on_delete is on_delete
    ]


class _AnyOf(Func):
    """`<column> + 0 = ANY(<one array parameter>::<column type>[])` (PostgreSQL).

    The whole batch of ids is one parameter, not thousands of placeholders for Django, the
    driver and the server's parser to walk (that was a third of a batch's time). The
    `+ 0` keeps the array out of the index condition, so that PostgreSQL reads the batch's
    id range (the caller's other filter) in one index scan and tests each row against a
    hash of the array, instead of descending the index once per id; the cast to the
    column's own type is what lets it hash the array (the driver would send small ids as
    int2 or int4, and a cross-type array is searched row by row)."""

    arg_joiner = " + 0 = ANY("
    template = "%(expressions)s::%(db_type)s[])"
    output_field = BooleanField()


def _among(qs: QS, name: str, ids: list[int]) -> QS:
    """`qs` narrowed to rows whose field `name` is one of `ids`."""
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        return qs.filter(**{f"{name}__in": ids})
    field = qs.model._meta.pk if name == "pk" else qs.model._meta.get_field(name)
    column = field.target_field if field.is_relation else field
    span = {f"{name}__gte": min(ids), f"{name}__lte": max(ids)}
    return qs.filter(**span).filter(_AnyOf(F(name), Value(ids), db_type=column.rel_db_type(connection)))


def _delete_returning_pks(qs: models.QuerySet[Any]) -> list[int]:
    """One `DELETE ... WHERE <the queryset's filters> RETURNING pk` (PostgreSQL and SQLite
    3.35+): the deleted ids, for the dependents, without another look-up."""
    query = qs.query.clone()
    query.__class__ = sql.DeleteQuery
    delete_sql, params = query.get_compiler(qs.db).as_sql()
    connection = connections[qs.db]
    pk = connection.ops.quote_name(qs.model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"{delete_sql} RETURNING {pk}", params)
        return [row[0] for row in cursor.fetchall()]


def delete_in_batches(
    qs: QS,
    batch_size: int,
    *,
    deletable: Callable[[QS], QS],
    pause: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> Deletion:
    """Delete the events of `qs` as the module docstring says; returns what was done.
    `deletable` narrows a queryset to the rows that may still be deleted: the model's rule
    (WebhookEventQuerySet: finished and not protected), applied again inside each batch."""
    model = qs.model
    handled = (models.CASCADE, models.SET_NULL, models.PROTECT)
    unknown = [rel.name for rel in model._meta.related_objects if rel.on_delete not in handled]
    if unknown:
        raise NotImplementedError(f"batched deletion does not handle the on_delete of {', '.join(unknown)}")
    cascade, set_null = relations(model, models.CASCADE), relations(model, models.SET_NULL)
    connection = connections[qs.db]
    if connection.vendor != "postgresql" and connection.features.max_query_params:
        # Elsewhere the ids go as one placeholder each (SQLite: at most 999 per statement).
        batch_size = min(batch_size, connection.features.max_query_params - 10)
    result = Deletion(batch_size=batch_size, pause_seconds=pause)
    result.add(model._meta.label, 0)
    for related, _ in cascade:
        result.add(related._meta.label, 0)
    base = type(qs)(model, using=qs.db)
    after: int | None = None
    while True:
        candidates = qs if after is None else qs.filter(pk__gt=after)
        ids = list(candidates.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return result
        after = ids[-1]
        for attempt in range(MAX_BATCH_RETRIES + 1):
            try:
                with transaction.atomic(using=qs.db):
                    gone = _delete_returning_pks(deletable(_among(base, "pk", ids)))
                    counts = {model._meta.label: len(gone)}
                    if gone:
                        for related, name in cascade:
                            # Django's fast path: one DELETE ... WHERE event_id = ANY(gone).
                            _, per_model = _among(related._base_manager.using(qs.db), name, gone).delete()
                            counts.update(per_model)
                        for related, name in set_null:
                            _among(related._base_manager.using(qs.db), name, gone).update(**{name: None})
                break
            except IntegrityError:
                # A PROTECT row (a dead letter) was committed for one of these events after
                # the DELETE's snapshot: the database refused the batch and nothing of it
                # happened. Run it again; the re-check now sees that row.
                if attempt == MAX_BATCH_RETRIES:
                    raise
                result.retried += 1
        result.batches += 1
        for label, count in counts.items():
            result.add(label, count)
        if progress:
            progress(counts[model._meta.label])
        if len(ids) < batch_size:  # that was the last one
            return result
        if pause:
            time.sleep(pause)
            result.pauses += 1
