"""The one storage boundary for untrusted text.

Every text we store that came from outside or from a handler (error messages, tracebacks,
a destination's answer, headers, notes) passes `clean()` or `for_field()` first:

- NUL (PostgreSQL text cannot hold it) and lone surrogates (no UTF-8 encoding exists for
  them, so neither database driver can send them) become U+FFFD;
- the text is cut to the field's own `max_length`, read from the model field, never a
  literal repeated at the call site. A TextField without `max_length` is cut to
  `TEXT_LIMIT`, so one handler's 100 MB exception message cannot bloat a row.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models

from webhooks.jsonwalk import map_strings

REPLACEMENT = "\ufffd"
# The cap for free text in a TextField that declares no max_length of its own.
TEXT_LIMIT = 50_000

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean(value: Any, limit: int | None = TEXT_LIMIT) -> str:
    """`value` as text that both databases store and every reader can render."""
    text = value if isinstance(value, str) else str(value)
    text = _UNSTORABLE.sub(REPLACEMENT, text)
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return text


def printable(value: Any) -> str:
    """`value` for a terminal or a line-based output: control characters (ANSI escapes,
    tabs, newlines) shown as Python escapes, so stored text can neither move the cursor nor
    add a column or a line."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def limit_of(model: type[models.Model], field_name: str) -> int:
    """The longest text `model.field_name` may hold: its max_length, else TEXT_LIMIT."""
    field = model._meta.get_field(field_name)
    max_length = getattr(field, "max_length", None)
    return int(max_length) if max_length else TEXT_LIMIT


def for_field(model: type[models.Model], field_name: str, value: Any) -> str:
    """`clean(value)` cut to what `model.field_name` holds."""
    return clean(value, limit_of(model, field_name))


def clean_json(value: Any) -> Any:
    """A copy of a JSON value with every string (keys too) `clean`ed, not cut: what a
    JSONField stores on both databases. Walked without recursion (webhooks.jsonwalk)."""
    return map_strings(value, lambda text: clean(text, None))
