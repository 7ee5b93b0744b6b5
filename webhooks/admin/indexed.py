"""Values read from an index instead of from every row: the distinct values of a column
and the values that begin with a typed text, for list filters and searches on big tables.

On PostgreSQL both are loose index scans: the index is asked for the first value, then
for the next value after it, and so on, so the cost follows the number of distinct values,
not of rows. Elsewhere (SQLite, small databases) they answer from the rows or not at all.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import connection, models
from django.db.models import Q
from django.http import HttpRequest

# A typed beginning that names more values than this is filtered by the prefix itself.
PREFIX_VALUES = 50


def _names(model: type[models.Model], field_name: str) -> tuple[str, str]:
    column = str(model._meta.get_field(field_name).column)  # type: ignore[union-attr]
    return connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(column)


def distinct_values(model: type[models.Model], field_name: str, limit: int) -> list[Any]:
    """The column's distinct values in order, at most `limit`, from an index it leads
    (PostgreSQL only: elsewhere the caller keeps its own query)."""
    table, column = _names(model, field_name)
    # Only quoted names are interpolated.
    sql = (
        f"WITH RECURSIVE v(x) AS ((SELECT {column} FROM {table} ORDER BY {column} LIMIT 1) "  # noqa: S608
        f"UNION ALL SELECT (SELECT {column} FROM {table} WHERE {column} > v.x ORDER BY {column} LIMIT 1) "
        f"FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


def values_beginning(model: type[models.Model], field_name: str, prefix: str, limit: int) -> list[str] | None:
    """The distinct values of a text column that begin with `prefix`, read from an index
    of the column with the pattern operator class (PostgreSQL); None when there are more
    than `limit` of them, or on another database (the caller then filters by the prefix
    itself).

    A list filters better than the prefix: `shop_domain LIKE 'x%'` is estimated from a
    histogram far too coarse for one shop among thousands, and the planner then walks the
    whole list in date order looking for that shop's rows; `shop_domain = 'x'` is estimated
    right, and read in date order from the (shop_domain, date) index."""
    if connection.vendor != "postgresql":
        return None
    table, column = _names(model, field_name)
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # ~<~ and ~>~ are the pattern operator class's own order (byte order), which the
    # index can walk; only quoted names are interpolated.
    sql = (
        f"WITH RECURSIVE v(x) AS ((SELECT {column} FROM {table} WHERE {column} LIKE %s "  # noqa: S608
        f"ORDER BY {column} USING ~<~ LIMIT 1) "
        f"UNION ALL SELECT (SELECT {column} FROM {table} WHERE {column} LIKE %s AND {column} ~>~ v.x "
        f"ORDER BY {column} USING ~<~ LIMIT 1) FROM v WHERE v.x IS NOT NULL) "
        f"SELECT x FROM v WHERE x IS NOT NULL LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [like, like, limit + 1])
        values = [row[0] for row in cursor.fetchall()]
    return values if len(values) <= limit else None


def beginning_with(model: type[models.Model], field_name: str, prefix: str) -> Q:
    """Rows whose `field_name` begins with `prefix`: as the list of those values when the
    index names at most PREFIX_VALUES of them (an empty list matches nothing, and drops out
    of an OR), else as the prefix."""
    values = values_beginning(model, field_name, prefix, PREFIX_VALUES)
    if values is None:
        return Q(**{f"{field_name}__startswith": prefix})
    return Q(**{f"{field_name}__in": values})


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """AllValuesFieldListFilter whose choices come from an index led by the column.

    `SELECT DISTINCT` reads every row (136 ms of a 200 ms changelist at 100,000 dead
    letters); the loose index scan reads one index entry per value. At most MAX_CHOICES
    values are listed."""

    MAX_CHOICES = 200

    def __init__(self, field: Any, request: HttpRequest, params: Any, model: Any, model_admin: Any, field_path: str) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        if connection.vendor == "postgresql" and field_path == field.name:
            self.lookup_choices = distinct_values(model, field.name, self.MAX_CHOICES)  # type: ignore[assignment]
