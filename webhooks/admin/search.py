"""The payload search as the event and dead-letter lists use it (webhooks.payload_search):
the time window's filter, the help text that names the window, the event ids found."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from webhooks import payload_search

PARAM = "within"


class SearchWindowFilter(admin.SimpleListFilter):
    """How far back a field search (path:value) looks. Filters nothing by itself: key
    searches and the rest of the list are not limited by it."""

    title = "field search looks back"
    parameter_name = PARAM

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, words.capitalize()) for key, (words, _) in payload_search.WINDOWS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset

    def choices(self, changelist: Any) -> Any:
        current = self.value() if self.value() in payload_search.WINDOWS else payload_search.DEFAULT_WINDOW
        for key, label in self.lookup_choices:
            yield {"selected": key == current, "query_string": changelist.get_query_string({PARAM: key}),
                   "display": label}


def with_help(changelist: Any, request: HttpRequest, also: str = "") -> Any:
    """The changelist, its search help naming the field search's current window."""
    changelist.search_help_text = payload_search.help_text(request.GET.get(PARAM), also)
    return changelist


def event_ids(request: HttpRequest, term: str) -> tuple[list[int] | None, bool]:
    """(event ids, is a field search): ids for a field search or an order/customer key,
    None when the text is neither (the list's other searches apply)."""
    field = payload_search.parse_field(term)
    if field is not None:
        return payload_search.field_event_ids(field, payload_search.window(request.GET.get(PARAM))[1]), True
    return payload_search.key_event_ids(term), False
