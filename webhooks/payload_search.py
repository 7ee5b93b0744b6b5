"""Find deliveries by what is inside them, for the admin's search box.

Two kinds of search, chosen by what was typed:
- a key: an order name (`#4939` or `4939`), an order id, a customer e-mail or a customer
  id. Answered by the subject index (webhooks.subject_index) from its (kind, value)
  index, whatever the event's age.
- a field: `path:value`, e.g. `line_items.sku:ABC-1` or `customer.tags:vip`. The path is
  a chain of keys; lists on the way are searched item by item. It matches when the value
  there is the text typed (case-insensitive), or a comma-separated list holding it (as
  Shopify writes tags). It reads payloads, so it looks only at deliveries received in a
  time window (default the last 7 days; the list page shows and changes it).

Both answer with event ids, newest first, at most MAX_IDS: the list filters on them (the
dead-letter list through its event), so each search is one bounded query of its own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from webhooks.models import EventSubject, WebhookEvent
from webhooks.subject_index import pairs_q
from webhooks.subjects import guess

MAX_IDS = 5000
WINDOWS = {"24h": ("the last 24 hours", 1), "7d": ("the last 7 days", 7), "30d": ("the last 30 days", 30)}
DEFAULT_WINDOW = "7d"
_FIELD = re.compile(r"^(?P<path>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<value>[^\s/].*)$")  # "https://..." is no field
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

HELP = (
    "Find a delivery by order name (#4939 or 4939), order id, customer e-mail or customer id; "
    "by a shop domain or webhook id{also}; or by any field of the payload as path:value, "
    "e.g. line_items.sku:ABC-1 or customer.tags:vip (field search looks at deliveries of {window})."
)


@dataclass(frozen=True)
class FieldTerm:
    keys: tuple[str, ...]
    value: str


def parse_field(text: str) -> FieldTerm | None:
    """`line_items.sku:ABC-1` -> FieldTerm(("line_items", "sku"), "ABC-1"); None otherwise."""
    match = _FIELD.match(text.strip())
    # A control character (NUL above all) is in no payload value we store, and PostgreSQL
    # refuses it inside a jsonpath: no field search, the term is searched as text instead.
    if match is None or not match["value"].isprintable():
        return None
    return FieldTerm(tuple(match["path"].split(".")), match["value"].strip())


def window(key: str | None) -> tuple[str, datetime]:
    """The field search's window from the list's `within` parameter: (words, since)."""
    words, days = WINDOWS.get(key or "", WINDOWS[DEFAULT_WINDOW])
    return words, timezone.now() - timedelta(days=days)


def help_text(key: str | None, also: str = "") -> str:
    return HELP.format(window=window(key)[0], also=also)


def key_event_ids(text: str) -> list[int] | None:
    """Events mentioning the order or customer typed; None when the text can be neither."""
    query = pairs_q(guess(text))
    if query is None:
        return None
    ids = EventSubject.objects.filter(query).order_by("-event_id").values_list("event_id", flat=True).distinct()
    return list(ids[:MAX_IDS])


def _item_pattern(value: str) -> str:
    """The value alone, or as one item of a comma-separated list, ignoring case."""
    return rf"(^|,)\s*{re.escape(value)}\s*(,|$)"


def field_event_ids(term: FieldTerm, since: datetime) -> list[int]:
    recent = WebhookEvent.objects.filter(received_at__gte=since).order_by("-received_at")
    if connection.vendor == "postgresql":
        # A jsonpath in lax mode walks into lists by itself. The keys are \w+ (checked by
        # _FIELD); the value travels as a string literal, escaped as JSON escapes it.
        path = "$." + ".".join(term.keys)
        regex = json.dumps(_item_pattern(term.value))
        condition = f"@ like_regex {regex} flag \"i\""
        if _NUMBER.match(term.value):
            condition += f" || @ == {term.value}"
        sql = '"webhooks_webhookevent"."payload" @? %s::jsonpath'
        params = [f"{path} ? ({condition})"]
    else:
        # SQLite: every scalar of the payload with its path ($."line_items"[0].sku: a key
        # other than letters and digits is quoted), the list positions optional in the
        # pattern. REGEXP is Django's own function.
        keys = "".join(rf'\."?{key}"?(\[\d+\])*' for key in term.keys)
        sql = (
            'EXISTS (SELECT 1 FROM json_tree("webhooks_webhookevent"."payload") AS t '
            "WHERE t.type NOT IN ('object', 'array') AND t.fullkey REGEXP %s AND CAST(t.atom AS TEXT) REGEXP %s)"
        )
        params = [rf"^\$(\[\d+\])*{keys}$", "(?i)" + _item_pattern(term.value)]
    ids = recent.extra(where=[sql], params=params).values_list("pk", flat=True)  # noqa: S610 - fixed SQL, bound params
    return list(ids[:MAX_IDS])
