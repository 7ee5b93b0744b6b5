"""The admin toolkit every app's admin uses: a read-only base, a capped paginator, status
badges, pretty JSON and preformatted text, plural-aware counts, clock-and-age times, and
related links that a higher app adds to a lower app's pages.

It lives in the lowest app so that webhooks, deadletters and timedify_ops can all import
it; the look (colours, dark mode) is in static/ops/console.css, the breadcrumbs in
templates/admin/kit/breadcrumbs.html.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer

# Counting more rows than this is not worth a full COUNT(*) on a big table.
COUNT_CAP = 10_000
# Status values to the badge colour classes in console.css (green, grey, blue, purple,
# amber, red): each pairs with white text at WCAG AA contrast in light and dark mode.
BADGE_CLASSES = {
    "processed": "ok", "ok": "ok", "resolved": "ok", "finished": "ok",
    "ignored": "quiet", "skipped": "quiet",
    "received": "info", "queued": "info",
    "processing": "busy", "replaying": "busy", "running": "busy",
    "failed": "warn", "deferred": "warn", "warning": "warn",
    "dead": "bad", "open": "bad",
    "paused": "quiet", "breaker-closed": "ok", "breaker-half_open": "warn", "breaker-open": "bad",
}


class CappedPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most COUNT_CAP rows (a bounded subquery), never the whole table."""

    @cached_property
    def count(self) -> int:
        return self.object_list[: COUNT_CAP + 1].count()  # type: ignore[attr-defined]


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Evidence tables: looked at, never edited, added or deleted by hand; no full count.

    `field_labels` and `field_help` replace the model's labels and help texts on the
    detail page, for the person reading it (support staff, not the developer)."""

    paginator = CappedPaginator
    show_full_result_count = False
    actions: list[Any] = []
    field_labels: dict[str, str] = {}
    field_help: dict[str, str] = {}

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        # Read-only fields take their label and help text from the form's Meta first.
        kwargs.setdefault("labels", self.field_labels)
        kwargs.setdefault("help_texts", self.field_help)
        return super().get_form(request, obj, change, **kwargs)


def status_badge(value: str, label: str | None = None) -> SafeString:
    return format_html('<span class="kit-badge kit-badge-{}">{}</span>', BADGE_CLASSES.get(value, "quiet"), label or value)


def pretty_json(value: Any) -> SafeString:
    """Indented JSON with syntax colouring (classes styled in console.css, readable in
    both modes). Pygments escapes every token it emits, so a payload holding <script> is
    shown as text."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    html = highlight(text, JsonLexer(), HtmlFormatter(nowrap=True))
    return format_html(
        '<pre class="kit-pre kit-json">{}</pre>',
        mark_safe(html),  # noqa: S308 - produced by Pygments' HtmlFormatter, which escapes
    )


def monospace(text: str) -> SafeString:
    """Preformatted text (a traceback): long lines wrap inside the box."""
    return format_html('<pre class="kit-pre">{}</pre>', text or "-")


def count_of(n: int, noun: str, plural: str = "") -> str:
    """'1 dead letter', '3 dead letters': English, not 'dead letter(s)'."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def age(moment: datetime) -> str:
    """'2 hours ago', 'just now': the largest unit only."""
    text = timesince(moment).split(",")[0]
    return "just now" if text.startswith("0\xa0") or text.startswith("0 ") else f"{text} ago"


def clock_and_age(moment: datetime | None) -> str:
    """'2026-11-28 03:14 UTC (2 hours ago)': the clock time a person can quote, and the age."""
    if moment is None:
        return "-"
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({age(moment)})"


def short_clock(moment: datetime) -> SafeString:
    """For a list column: the age, and the clock time beside it in a quieter colour."""
    local = timezone.localtime(moment)
    when = f"{local:%H:%M}" if local.date() == timezone.localdate() else f"{local:%b %d %H:%M}"
    return format_html('{} <span class="kit-quiet">{}</span>', age(moment), when)


# --- related links: a higher app adds a section to a lower app's page ------------------

RelatedProvider = Callable[[Any], list[SafeString]]
_RELATED: dict[type[models.Model], list[RelatedProvider]] = {}


def add_related_links(model: type[models.Model], provider: RelatedProvider) -> None:
    """Register `provider(obj) -> [link, ...]` for `model`'s page (idempotent): the
    deadletters app adds its dead-letter links to the event and shop pages this way, so
    webhooks knows nothing of dead letters."""
    providers = _RELATED.setdefault(model, [])
    if provider not in providers:
        providers.append(provider)


def related_links(obj: models.Model) -> SafeString:
    links = [link for provider in _RELATED.get(type(obj), []) for link in provider(obj)]
    if not links:
        return format_html("{}", "none")
    return format_html('<ul class="kit-related">{}</ul>', format_html_join("", "<li>{}</li>", ((link,) for link in links)))
