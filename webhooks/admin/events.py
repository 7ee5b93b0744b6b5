"""Admin: webhook events and their attempts. Read-only: what was delivered is evidence."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer

from webhooks.handlers import handled_topics
from webhooks.models import EventAttempt, WebhookEvent

# Counting more rows than this is not worth a full COUNT(*) on a big table.
COUNT_CAP = 10_000
STATUS_COLOURS = {
    "processed": "#2e7d32", "ignored": "#757575", "received": "#1565c0", "processing": "#6a1b9a",
    "failed": "#e65100", "dead": "#c62828", "open": "#c62828", "replaying": "#6a1b9a", "resolved": "#2e7d32",
    "ok": "#2e7d32", "deferred": "#e65100", "skipped": "#757575",
}


class CappedPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most COUNT_CAP rows (a bounded subquery), never the whole table."""

    @cached_property
    def count(self) -> int:
        return self.object_list[: COUNT_CAP + 1].count()  # type: ignore[attr-defined]


def status_badge(value: str, label: str | None = None) -> SafeString:
    colour = STATUS_COLOURS.get(value, "#444")
    return format_html(
        '<span style="color:#fff;background:{};padding:1px 6px;border-radius:8px;white-space:nowrap">{}</span>',
        colour, label or value,
    )


def pretty_json(value: Any) -> SafeString:
    """Indented JSON with syntax colouring. Pygments escapes every token it emits, so a
    payload holding <script> is shown as text."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    html = highlight(text, JsonLexer(), HtmlFormatter(noclasses=True, nowrap=True, style="friendly"))
    return format_html(
        '<pre style="max-height:40em;overflow:auto;white-space:pre-wrap;font-size:12px;'
        'background:#f8f8f8;padding:8px;border:1px solid #ddd">{}</pre>',
        mark_safe(html),  # noqa: S308 - produced by Pygments' HtmlFormatter, which escapes
    )


def monospace(text: str) -> SafeString:
    return format_html(
        '<pre style="max-height:30em;overflow:auto;font-size:12px;background:#f8f8f8;padding:8px;'
        'border:1px solid #ddd">{}</pre>', text or "-",
    )


class RecentValuesFilter(admin.SimpleListFilter):
    """Choices from the newest rows only (a DISTINCT over the whole table is a full scan),
    plus the handled topics; any value still works through the URL."""

    field = ""
    sample = 1000

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = model_admin.model.objects.order_by("-received_at").values_list(self.field, flat=True)[: self.sample]
        values = {v for v in recent if v} | self.extra_values()
        if self.value():
            values.add(self.value())
        return [(v, v) for v in sorted(values)]

    def extra_values(self) -> set[str]:
        return set()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class TopicFilter(RecentValuesFilter):
    title = "topic"
    parameter_name = "topic"
    field = "topic"

    def extra_values(self) -> set[str]:
        return set(handled_topics())


class ShopFilter(RecentValuesFilter):
    title = "shop"
    parameter_name = "shop_domain"
    field = "shop_domain"


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    paginator = CappedPaginator
    show_full_result_count = False
    actions: list[Any] = []

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retention deletes events, in batches


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "topic", "shop_link", "status_badge", "ack_latency", "attempts", "webhook_id")
    list_filter = ("status", TopicFilter, ShopFilter, ("received_at", admin.DateFieldListFilter))
    search_fields = ("webhook_id", "event_id", "shop_domain")
    search_help_text = "A webhook id or event id (exact), or a shop domain (or its beginning)."
    ordering = ("-received_at",)
    list_select_related = ("shop",)
    fieldsets = (
        (None, {"fields": (
            "topic", "provider", "shop_link", "status_badge", "webhook_id", "event_id", "api_version",
            "triggered_at", "received_at", "ack_latency", "attempts", "failures", "next_attempt_at", "waiting_for",
            "processing_ms", "processed_at",
            "last_error", "synthetic", "redacted_at",
        )}),
        ("Dead letter and related deliveries", {"fields": ("dead_letter_links", "same_shop_link")}),
        ("Payload", {"fields": ("payload_pretty",)}),
        ("Headers (as stored: secrets were redacted at intake)", {"fields": ("headers_pretty",)}),
        ("Attempts", {"fields": ("attempt_timeline",)}),
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[WebhookEvent], search_term: str
    ) -> tuple[QuerySet[WebhookEvent], bool]:
        # Exact ids (the unique delivery index) and the shop domain's beginning (the
        # shop index), instead of the default case-insensitive substring scan.
        term = search_term.strip()
        if not term:
            return queryset, False
        domain = term.lower()
        match = Q(webhook_id=term) | Q(event_id=term) | Q(shop_domain=domain) | Q(shop_domain__startswith=domain)
        if term.isdigit():
            match |= Q(pk=int(term))
        return queryset.filter(match), False

    @admin.display(description="shop", ordering="shop_domain")
    def shop_link(self, obj: WebhookEvent) -> SafeString:
        url = reverse("admin:webhooks_webhookevent_changelist") + "?" + urlencode({"shop_domain": obj.shop_domain})
        suffix = " (uninstalled)" if obj.shop is not None and not obj.shop.installed else ""
        return format_html('<a href="{}">{}</a>{}', url, obj.shop_domain or "-", suffix)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: WebhookEvent) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="ack latency", ordering="ack_latency_ms")
    def ack_latency(self, obj: WebhookEvent) -> str:
        return "-" if obj.ack_latency_ms is None else f"{obj.ack_latency_ms:.1f} ms"

    @admin.display(description="payload")
    def payload_pretty(self, obj: WebhookEvent) -> SafeString:
        return pretty_json(obj.payload)

    @admin.display(description="headers")
    def headers_pretty(self, obj: WebhookEvent) -> SafeString:
        # Shown as stored: the intake's one policy (webhooks.intake.STORED_HEADERS) decided.
        return pretty_json(obj.headers)

    @admin.display(description="dead letter")
    def dead_letter_links(self, obj: WebhookEvent) -> SafeString:
        # Reverse relation from deadletters; resolved through the URL name only, so this
        # module does not import the app above it.
        rows = obj.dead_letters.order_by("-created_at").values_list("pk", "status") if hasattr(obj, "dead_letters") else []
        if not rows:
            return format_html("{}", "none")
        return format_html_join(
            ", ", '<a href="{}">dead letter {}</a> {}',
            ((reverse("admin:deadletters_deadletter_change", args=[pk]), pk, status_badge(status)) for pk, status in rows),
        )

    @admin.display(description="same shop")
    def same_shop_link(self, obj: WebhookEvent) -> SafeString:
        if not obj.shop_domain:
            return format_html("{}", "-")
        url = reverse("admin:webhooks_webhookevent_changelist") + "?" + urlencode({"shop_domain": obj.shop_domain})
        return format_html('<a href="{}">Other deliveries of {}</a>', url, obj.shop_domain)

    @admin.display(description="attempts timeline")
    def attempt_timeline(self, obj: WebhookEvent) -> SafeString:
        attempts = list(obj.attempt_log.order_by("number"))
        if not attempts:
            return format_html("{}", "no attempt yet")
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td><td>{}</td></tr>",
            (
                (a.number, a.started_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], a.trigger, f"{a.duration_ms:.1f}",
                 status_badge(a.outcome, a.get_outcome_display()),
                 f"{a.error_class}: {a.error_message}"[:300] if a.error_class else a.summary)
                for a in attempts
            ),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>started (UTC)</th><th>trigger</th><th>duration</th><th>outcome</th>"
            "<th>error or summary</th></tr></thead><tbody>{}</tbody></table>", rows,
        )


@admin.register(EventAttempt)
class EventAttemptAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "event_link", "number", "trigger", "duration", "outcome_badge", "error_class")
    list_filter = ("outcome", "trigger", ("started_at", admin.DateFieldListFilter))
    search_fields = ("=event__webhook_id", "error_class")
    ordering = ("-started_at",)
    list_select_related = ("event",)
    fields = ("event_link", "number", "trigger", "started_at", "duration", "outcome_badge", "error_class",
              "error_message", "traceback_pre", "summary")

    @admin.display(description="event")
    def event_link(self, obj: EventAttempt) -> SafeString:
        url = reverse("admin:webhooks_webhookevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{} {}</a>', url, obj.event.topic, obj.event.shop_domain)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: EventAttempt) -> str:
        return f"{obj.duration_ms:.1f} ms"

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj: EventAttempt) -> SafeString:
        return status_badge(obj.outcome, obj.get_outcome_display())

    @admin.display(description="traceback")
    def traceback_pre(self, obj: EventAttempt) -> SafeString:
        return monospace(obj.traceback)
