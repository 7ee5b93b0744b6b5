"""The admin toolkit every app's admin uses: a read-only base, a capped paginator, status
badges, pretty JSON and preformatted text, plural-aware counts, clock-and-age times, and
related links that a higher app adds to a lower app's pages.

It lives in the lowest app so that webhooks, deadletters and timedify_ops can all import
it; the look (colours, dark mode) is in static/ops/console.css, the breadcrumbs in
templates/admin/kit/breadcrumbs.html.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote as url_quote

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer

from webhooks.jsonwalk import dumps_readable

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
    """Counts at most COUNT_CAP rows (a bounded subquery), never the whole table. The
    count ignores the list's order: any COUNT_CAP + 1 rows tell "more than the cap", and
    without the ORDER BY the database need not sort (or walk an index) to find them."""

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: COUNT_CAP + 1].count()  # type: ignore[attr-defined]


# Where a row's link goes: the change URL with this in place of the quoted key.
_KEY = "0kit0"


class KitChangeList(ChangeList):
    """Django's ChangeList, with each row's link built from one reverse() of the change
    URL (Django reverses it once per row: a tenth of a 100-row page's time), and the
    model admin's `list_defer` fields left out of the page's rows (big JSON the columns
    never show). Exports and bulk actions read `get_queryset()`, which defers nothing."""

    def get_results(self, request: HttpRequest) -> None:
        defer = getattr(self.model_admin, "list_defer", ())
        if defer:
            self.queryset = self.queryset.defer(*defer)
        super().get_results(request)

    @cached_property
    def _change_url(self) -> tuple[str, str]:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=(_KEY,),
                      current_app=self.model_admin.admin_site.name)
        head, tail = url.split(_KEY)
        return head, tail

    def url_for_result(self, result: Any) -> str:
        head, tail = self._change_url
        # reverse() quotes an argument this way (django.urls.resolvers._reverse_with_prefix).
        return head + url_quote(str(quote(getattr(result, self.pk_attname))), safe=RFC3986_SUBDELIMS + "/~:@") + tail


class FastListAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The same list page for less work: row links from one reverse(), and the action
    checkbox written directly instead of through a form widget's template (the same HTML)."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return KitChangeList

    def action_checkbox(self, obj: Any) -> SafeString:
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" '
            'aria-label="Select this object for an action - {}">', helpers.ACTION_CHECKBOX_NAME, str(obj.pk), str(obj),
        )


class ReadOnlyAdmin(FastListAdmin):
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
    text = dumps_readable(value, sort_keys=True)  # never recurses past the intake's depth limit
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
