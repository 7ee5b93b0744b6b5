"""Admin: webhook events and their attempts. Read-only: what was delivered is evidence."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import get_script_prefix, path, reverse
from django.utils.encoding import iri_to_uri
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from webhooks.admin import export, search
from webhooks.admin.indexed import beginning_with
from webhooks.admin.kit import ReadOnlyAdmin, add_related_links, monospace, pretty_json, related_links, status_badge
from webhooks.handlers import handled_topics
from webhooks.models import EventAttempt, WebhookEvent


class RecentValuesFilter(admin.SimpleListFilter):
    """Choices from the newest rows only (a DISTINCT over the whole table is a full scan),
    plus the handled topics; any value still works through the URL.

    A thousand shops are a thousand links: the filter writes them itself, the characters
    Django's admin/filter.html would write (its template renders `rendered_choices`), for
    a fifth of the CPU: one URL encoding of the other parameters instead of one per link,
    and no template nodes per link."""

    field = ""
    sample = 1000
    template = "admin/webhooks/filters/recent_values.html"
    rendered_choices: SafeString | None = None

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

    def choices(self, changelist: Any) -> Iterator[Any]:
        if changelist.add_facets:  # counts per choice: Django's own way
            self.rendered_choices = None
            yield from super().choices(changelist)
            return
        every = [{"selected": self.value() is None, "display": "All",
                  "query_string": changelist.get_query_string(remove=[self.parameter_name])}]
        links = query_strings(changelist.filter_params, str(self.parameter_name), [v for v, _ in self.lookup_choices])
        every += [{"selected": self.value() == str(value), "query_string": link, "display": title}
                  for (value, title), link in zip(self.lookup_choices, links, strict=True)]
        self.rendered_choices = format_html_join("", CHOICE, (
            (mark_safe(' class="selected"') if c["selected"] else "", iri_to_uri(c["query_string"]), c["display"])
            for c in every
        ))
        yield from every


# One choice as admin/filter.html writes it (its loop body, whitespace included).
CHOICE = '\n    <li{}>\n    <a href="{}">{}</a></li>\n  '


def query_strings(params: dict[str, list[str]], name: str, values: list[str]) -> list[str]:
    """ChangeList.get_query_string({name: value}) for each value: the parameters sorted by
    name, `name` set to the value. The others are encoded once."""
    others = sorted((k, v) for k, v in params.items() if k != name)
    head = urlencode([(k, v) for k, v in others if k < name], doseq=True)
    tail = urlencode([(k, v) for k, v in others if k > name], doseq=True)
    return ["?" + "&".join(part for part in (head, urlencode([(name, value)]), tail) if part) for value in values]


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


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "topic", "shop_link", "status_badge", "ack_latency", "attempts", "webhook_id")
    list_filter = ("status", TopicFilter, ShopFilter, ("received_at", admin.DateFieldListFilter), search.SearchWindowFilter)
    search_fields = ("webhook_id", "event_id", "shop_domain")
    ordering = ("-received_at",)
    list_select_related = ("shop",)
    list_defer = ("payload", "headers")  # shown on the event's page, not in the list
    field_labels = {"api_version": "API version", "processing_ms": "Processing (ms)", "event_id": "Event ID",
                    "webhook_id": "Webhook ID"}
    fieldsets = (
        (None, {"fields": (
            "topic", "provider", "shop_link", "status_badge", "webhook_id", "event_id", "api_version",
            "triggered_at", "received_at", "ack_latency", "attempts", "failures", "next_attempt_at", "waiting_for",
            "processing_ms", "processed_at",
            "last_error", "synthetic", "redacted_at",
        )}),
        ("Related", {"fields": ("related",)}),
        ("Payload", {"fields": ("payload_pretty",)}),
        ("Headers (as stored: secrets were redacted at intake)", {"fields": ("headers_pretty",)}),
        ("Attempts", {"fields": ("attempt_timeline",)}),
    )

    change_list_template = "admin/webhooks/webhookevent/change_list.html"
    EXPORT_COLUMNS = (
        ("id", "id"), ("received_at", "received_at"), ("topic", "topic"), ("shop", "shop_domain"), ("status", "status"),
        ("webhook_id", "webhook_id"), ("event_id", "event_id"), ("attempts", "attempts"), ("last_error", "last_error"),
        ("payload", "payload"),
    )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [path("export/<str:fmt>/", view(self.export_view), name="webhooks_webhookevent_export"),
                *super().get_urls()]

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponseBase:
        return export.download(self, request, fmt, self.EXPORT_COLUMNS)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"export_urls": export.links(request, "admin:webhooks_webhookevent_export"), "query": request.GET.urlencode()}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        return search.with_help(super().get_changelist_instance(request), request)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[WebhookEvent], search_term: str
    ) -> tuple[QuerySet[WebhookEvent], bool]:
        # Exact ids (the unique delivery index), the shop domain's beginning (the shop
        # index), and the payload search (subject index, or a field within the window),
        # instead of the default case-insensitive substring scan. The kinds that match
        # nothing are left out of the query: a shop alone is then read in date order
        # from the (shop, date) index, where an OR with the other kinds made the planner
        # walk the whole list in date order looking for that shop's rows.
        term = search_term.strip()
        if not term:
            return queryset, False
        ids, is_field = search.event_ids(request, term)
        if is_field:
            return queryset.filter(pk__in=ids or []), False
        match = beginning_with(WebhookEvent, "shop_domain", term.lower()) | Q(pk__in=ids or [])
        delivery = Q(webhook_id=term) | Q(event_id=term)
        if WebhookEvent.objects.filter(delivery).exists():
            match |= delivery
        if term.isascii() and term.isdecimal():  # "²" is a digit int() refuses
            match |= Q(pk=int(term))
        return queryset.filter(match), False

    @admin.display(description="shop", ordering="shop_domain")
    def shop_link(self, obj: WebhookEvent) -> SafeString:
        url = shop_events_url(obj.shop_domain)
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

    @admin.display(description="related")
    def related(self, obj: WebhookEvent) -> SafeString:
        return related_links(obj)

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


def shop_events_url(domain: str) -> str:
    """The event list filtered to one shop (a list column: one reverse() per page prefix,
    not one per row)."""
    return f"{_event_list(get_script_prefix())}?{urlencode({'shop_domain': domain})}"


@lru_cache(maxsize=16)
def _event_list(script_prefix: str) -> str:  # keyed by the prefix reverse() puts in front
    return reverse("admin:webhooks_webhookevent_changelist")


def _same_shop(event: WebhookEvent) -> list[SafeString]:
    if not event.shop_domain:
        return []
    return [format_html('<a href="{}">Other deliveries of {}</a>', shop_events_url(event.shop_domain), event.shop_domain)]


add_related_links(WebhookEvent, _same_shop)


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
