"""The dead-letter list and detail page: the support console.

The detail page starts with a "what happened" box (error, when, attempts, replays, whether
a replay can help, the shop's state, the actions), then the traceback and the payload;
fields without a value are left out. Actions are in deadletters/admin/actions.py.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from deadletters.admin import edit_replay, pages
from deadletters.admin.actions import DeadLetterActions
from deadletters.admin.filters import AgeFilter, ShopFilter, StatusFilter
from deadletters.models import DeadLetter
from deadletters.verdict import Chance, replay_verdict
from webhooks.admin import export, search
from webhooks.admin.indexed import IndexedValuesFilter, beginning_with
from webhooks.admin.kit import ReadOnlyAdmin, clock_and_age, monospace, pretty_json, short_clock, status_badge
from webhooks.models import Shop, WebhookEvent

# Looks like a host name: letters, digits and hyphens in dot-separated labels.
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)+$")
# Detail fields shown only when they hold something.
OPTIONAL = ("last_replayed_at", "last_replay_error", "resolved_by_name", "resolved_at", "note")
SHOP_SUGGESTIONS = 20
EXPORT_COLUMNS = (
    ("id", "id"), ("status", "status"), ("died_at", "created_at"), ("topic", "topic"), ("shop", "shop_domain"),
    ("error_class", "error_class"), ("error_message", "error_message"), ("replays", "replay_count"),
    ("event_id", "event_id"), ("webhook_id", "event__webhook_id"),
)


@admin.register(DeadLetter)
class DeadLetterAdmin(DeadLetterActions, ReadOnlyAdmin):
    list_display = ("id", "status_badge", "age", "topic", "shop_domain", "error_class_short", "short_message", "replays")
    list_display_links = ("id", "age")
    # The shop is typed with suggestions (thousands of shops make a useless sidebar list).
    list_filter = (StatusFilter, ShopFilter, ("topic", IndexedValuesFilter), ("error_class", IndexedValuesFilter), AgeFilter,
                   search.SearchWindowFilter)
    search_fields = ("shop_domain", "=event__webhook_id", "error_message", "error_class")
    ordering = ("-created_at",)
    list_per_page = 50
    list_defer = ("traceback", "attempts")  # shown on the dead letter's page, not in the list
    actions = ["replay", "dry_run", "resolve", "ignore", "reopen", "cleanup", "delete_selected"]
    field_labels = {"replay_count": "Replays", "resolved_at": "Closed at", "note": "Note", "error_message": "Error",
                    "last_replay_error": "Error of the last replay"}
    field_help = {
        "replay_count": "How many times someone replayed it.",
        "note": "Why it was resolved, ignored or reopened, in the words of the person who did it.",
        "last_replay_error": "What went wrong the last time it was replayed.",
        "error_message": "What the program said when it gave up on this delivery.",
    }
    fieldsets = (
        ("Why it failed", {"fields": ("error_message", "traceback_pre", "group_link")}),
        ("Payload (what the shop sent)", {"fields": ("payload_pretty",)}),
        ("Details", {"fields": ("status_badge", "event_link", "topic", "shop_domain", "replay_count",
                                "last_replayed_at", "last_replay_error", "resolved_by_name", "resolved_at", "note")}),
        ("Attempts", {"fields": ("attempt_table",)}),
        ("Replays and dry runs", {"fields": ("replay_table",)}),
    )
    change_list_template = "admin/deadletters/deadletter/change_list.html"
    change_form_template = "admin/deadletters/deadletter/change_form.html"

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        return search.with_help(super().get_changelist_instance(request), request, ", or by words of the error")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DeadLetter], search_term: str
    ) -> tuple[QuerySet[DeadLetter], bool]:
        # A shop domain, a webhook id or the payload search (order, customer, a field) is
        # answered from indexes (the shop index's domains, the delivery index, the subject
        # index), each resolved first: the list then filters on plain values, which the
        # planner estimates right, rather than on a prefix or an OR with a subquery, which
        # it took for half the table and answered by walking every dead letter in date
        # order. Only words of an error fall back to the substring search.
        term = search_term.strip()
        if not term:
            return queryset, False
        ids, is_field = search.event_ids(request, term)
        if is_field:
            return queryset.filter(event_id__in=ids or []), False
        if " " not in term:
            delivered = list(WebhookEvent.objects.filter(webhook_id=term).values_list("pk", flat=True))
            if SHOP_DOMAIN.match(term.lower()):
                shop = beginning_with(DeadLetter, "shop_domain", term.lower())
                return queryset.filter(shop | Q(event_id__in=delivered)), False
            if ids or delivered:
                return queryset.filter(event_id__in=[*(ids or []), *delivered]), False
        return super().get_search_results(request, queryset, search_term)

    # --- permissions (read-only evidence, changed only through the actions) -------------

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("deadletters.replay_deadletter")

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("deadletters.resolve_deadletter")

    def has_cleanup_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("deadletters.cleanup_deadletter")

    # --- pages -------------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("groups/", view(self.error_groups_view), name="deadletters_deadletter_groups"),
            path("groups/replay/", view(self.replay_group_view), name="deadletters_deadletter_replay_group"),
            path("replay-matching/", view(self.replay_matching_view), name="deadletters_deadletter_replay_matching"),
            path("<path:object_id>/edit-replay/", view(self.edit_replay_view), name="deadletters_deadletter_edit_replay"),
            path("shops/", view(self.shop_suggestions_view), name="deadletters_deadletter_shops"),
            path("export/<str:fmt>/", view(self.export_view), name="deadletters_deadletter_export"),
            *super().get_urls(),
        ]

    def error_groups_view(self, request: HttpRequest) -> HttpResponse:
        return pages.error_groups(self, request)

    def replay_group_view(self, request: HttpRequest) -> HttpResponse:
        return pages.replay_group(self, request)

    def replay_matching_view(self, request: HttpRequest) -> HttpResponse:
        return pages.replay_matching(self, request)

    def edit_replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return edit_replay.edit_and_replay(self, request, object_id)

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponseBase:
        return export.download(self, request, fmt, EXPORT_COLUMNS)

    def shop_suggestions_view(self, request: HttpRequest) -> JsonResponse:
        """Shop domains for the shop filter's box: beginnings first, then any part."""
        term = request.GET.get("term", "").strip().lower()[:100]
        if not self.has_view_permission(request) or len(term) < 2:
            return JsonResponse({"shops": []})
        shops = Shop.objects.order_by("domain").values_list("domain", flat=True)
        found = list(shops.filter(domain__startswith=term)[:SHOP_SUGGESTIONS])
        if len(found) < SHOP_SUGGESTIONS:
            found += [d for d in shops.filter(domain__contains=term)[:SHOP_SUGGESTIONS] if d not in found]
        return JsonResponse({"shops": found[:SHOP_SUGGESTIONS]})

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"can_replay": self.has_replay_permission(request), "query": request.GET.urlencode(),
                 "export_urls": export.links(request, "admin:deadletters_deadletter_export")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        extra: dict[str, Any] = {"can_replay": self.has_replay_permission(request),
                                 "can_resolve": self.has_resolve_permission(request),
                                 "can_edit_replay": edit_replay.may_edit(request)}
        if obj is not None:
            extra["box"] = self.what_happened(obj)
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_fieldsets(self, request: HttpRequest, obj: DeadLetter | None = None) -> Any:
        if obj is None:
            return self.fieldsets
        empty = {name for name in OPTIONAL if self._value(obj, name) in (None, "", "-")}
        if not obj.traceback:
            empty.add("traceback_pre")
        return [(title, {**opts, "fields": [f for f in opts["fields"] if f not in empty]})
                for title, opts in self.fieldsets]

    def _value(self, obj: DeadLetter, name: str) -> Any:
        attr = getattr(self, name, None)
        return attr(obj) if callable(attr) else getattr(obj, name)

    def what_happened(self, obj: DeadLetter) -> dict[str, Any]:
        """The box at the top of the page, in the words support staff use."""
        event = obj.event
        verdict = replay_verdict(obj.error_class, obj.error_message)
        shop = Shop.objects.filter(domain=obj.shop_domain).first() if obj.shop_domain else None
        if shop is None:
            shop_state = "not known to the console"
        elif shop.installed:
            shop_state = f"installed (since {clock_and_age(shop.installed_at)})"
        else:
            since = f" (since {clock_and_age(shop.uninstalled_at)})" if shop.uninstalled_at else ""
            shop_state = f"uninstalled{since}"
        return {
            "error_name": obj.error_class.rsplit(".", 1)[-1],
            "message": (obj.error_message.strip().splitlines() or [""])[0],
            "received": clock_and_age(event.received_at),
            "died": clock_and_age(obj.created_at),
            "attempts": len(obj.attempts) or event.attempts,
            "replays": obj.replay_count,
            "verdict": verdict,
            "replay_first": verdict.chance == Chance.LIKELY,
            "shop": shop,
            "shop_state": shop_state,
            "shop_url": reverse("admin:webhooks_shop_change", args=[shop.pk]) if shop else "",
            "closed": not obj.is_open,
        }

    # --- columns and detail fields -----------------------------------------------------

    @admin.display(description="age", ordering="-created_at")
    def age(self, obj: DeadLetter) -> SafeString:
        return short_clock(obj.created_at)

    @admin.display(description="error", ordering="error_class")
    def error_class_short(self, obj: DeadLetter) -> SafeString:
        return format_html('<span title="{}">{}</span>', obj.error_class, obj.error_class.rsplit(".", 1)[-1])

    @admin.display(description="message")
    def short_message(self, obj: DeadLetter) -> str:
        line = (obj.error_message.strip().splitlines() or [""])[0]
        return line if len(line) <= 90 else line[:89] + "…"

    @admin.display(description="replays", ordering="replay_count")
    def replays(self, obj: DeadLetter) -> int:
        return obj.replay_count

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: DeadLetter) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="delivery")
    def event_link(self, obj: DeadLetter) -> SafeString:
        url = reverse("admin:webhooks_webhookevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{} (webhook ID {})</a> {}', url, obj.event_id, obj.event.webhook_id,
                           status_badge(obj.event.status))

    @admin.display(description="Closed by")
    def resolved_by_name(self, obj: DeadLetter) -> str:
        # A name, not a link: Viewer and Support cannot open user pages.
        user = obj.resolved_by
        return (user.get_full_name() or user.get_username()) if user is not None else ""

    @admin.display(description="traceback")
    def traceback_pre(self, obj: DeadLetter) -> SafeString:
        return monospace(obj.traceback)

    @admin.display(description="error group")
    def group_link(self, obj: DeadLetter) -> SafeString:
        url = reverse("admin:deadletters_deadletter_changelist") + "?" + urlencode({"fingerprint": obj.fingerprint})
        return format_html('<a href="{}">All dead letters with this error</a>', url)

    @admin.display(description="payload")
    def payload_pretty(self, obj: DeadLetter) -> SafeString:
        return pretty_json(obj.event.payload)

    @admin.display(description="attempts")
    def attempt_table(self, obj: DeadLetter) -> SafeString:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td><td>{}</td></tr>",
            ((a.get("number"), a.get("started_at", "")[:23], a.get("trigger", ""), a.get("duration_ms"),
              status_badge(str(a.get("outcome", ""))), a.get("error", "")) for a in obj.attempts),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>started (UTC)</th><th>trigger</th><th>duration</th><th>outcome</th>"
            "<th>error</th></tr></thead><tbody>{}</tbody></table>", rows,
        )

    @admin.display(description="history")
    def replay_table(self, obj: DeadLetter) -> SafeString:
        records = list(obj.replays.select_related("actor", "payload_revision").order_by("-started_at")[:100])
        if not records:
            return format_html("{}", "not replayed yet")
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r.started_at.strftime("%Y-%m-%d %H:%M:%S"), r.actor or "-", r.source, "dry run" if r.dry_run else _replay_kind(r),
              status_badge(r.outcome, r.get_outcome_display()), (r.error.split("\n", 1)[0] or r.summary)[:300])
             for r in records),
        )
        return format_html(
            "<table><thead><tr><th>when (UTC)</th><th>who</th><th>from</th><th>kind</th><th>outcome</th>"
            "<th>error or summary</th></tr></thead><tbody>{}</tbody></table>", rows,
        )


def _replay_kind(record: Any) -> str:
    revision = record.payload_revision
    return f"replay on payload revision {revision.number}" if revision is not None else "replay"
