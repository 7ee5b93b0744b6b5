"""The dead-letter list's filters: status (open by default), age (cumulative), shop (an
autocomplete box, not a sidebar of thousands). Values read from an index (topic, error
class) come from webhooks.admin.indexed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from deadletters.models import DeadLetter, DeadLetterStatus

OPEN = "open"
ALL = "all"


class StatusFilter(admin.SimpleListFilter):
    """Open first: what support works on. "Open" includes dead letters being replayed right
    now (they are not done yet), so the list and the status strip count the same set."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(OPEN, "Open (waiting for someone)"), (DeadLetterStatus.RESOLVED, "Resolved"),
                (DeadLetterStatus.IGNORED, "Ignored"), (ALL, "All")]

    def current(self) -> str:
        return self.value() or OPEN

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
        value = self.current()
        if value == ALL:
            return queryset
        if value == OPEN:
            return queryset.filter(status__in=[DeadLetterStatus.OPEN, DeadLetterStatus.REPLAYING])
        return queryset.filter(status=value)

    def choices(self, changelist: Any) -> Iterator[Any]:
        # No Django "All" entry (it would mean the default, open): "All" is a choice of its own.
        for value, label in self.lookup_choices:
            yield {
                "selected": self.current() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }


class AgeFilter(admin.SimpleListFilter):
    """Cumulative windows ("last 24 hours" includes the last hour), and the old ones."""

    title = "age"
    parameter_name = "age"
    HOURS = {"1h": 1, "24h": 24, "7d": 24 * 7}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1h", "Last hour"), ("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("older", "Older than 7 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
        value = self.value() or ""
        if value == "older":
            return queryset.filter(created_at__lte=timezone.now() - timedelta(hours=self.HOURS["7d"]))
        if value in self.HOURS:
            return queryset.filter(created_at__gt=timezone.now() - timedelta(hours=self.HOURS[value]))
        return queryset


class ShopFilter(admin.SimpleListFilter):
    """One shop, typed with suggestions (deadletters/deadletter/shops/ answers them);
    the shop index (domain, status) serves the filter."""

    title = "shop"
    parameter_name = "shop_domain"
    template = "admin/deadletters/filters/shop.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
        value = (self.value() or "").strip().lower()
        return queryset.filter(shop_domain=value) if value else queryset

    def choices(self, changelist: Any) -> Iterator[Any]:
        others = [(k, v) for k, v in changelist.params.items() if k not in (self.parameter_name, "p")]
        yield {
            "value": self.value() or "",
            "display": self.value() or "All shops",
            "hidden": [(k, item) for k, v in others for item in (v if isinstance(v, list) else [v])],
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }
