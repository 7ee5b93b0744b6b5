"""Admin: the compliance-request tracker, read-only, soonest deadline first."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from webhooks.admin.kit import pretty_json, status_badge
from webhooks.compliance import ComplianceRequest, RequestStatus

COLOURS = {"pending": "received", "done": "processed", "failed": "dead", "overdue": "dead"}


class StateFilter(admin.SimpleListFilter):
    """The status, with "overdue" counted by date too (before the alerting check marked it)."""

    title = "status"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open (not done)"), *RequestStatus.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ComplianceRequest]) -> QuerySet[ComplianceRequest]:
        value = self.value()
        if value == "open":
            return queryset.filter(status__in=[s for s in RequestStatus if s != RequestStatus.DONE])
        if value == RequestStatus.OVERDUE:
            return ComplianceRequest.objects.overdue().filter(pk__in=queryset.values("pk"))
        if value in RequestStatus.values:
            return queryset.filter(status=value)
        return queryset


@admin.register(ComplianceRequest)
class ComplianceRequestAdmin(admin.ModelAdmin[ComplianceRequest]):
    list_display = ["kind", "shop_domain", "shopify_request_id", "received_at", "due_at", "state", "completed_at",
                    "error_class"]
    list_filter = [StateFilter, "kind"]
    search_fields = ["shop_domain", "shopify_request_id", "customer_id"]
    readonly_fields = ["kind", "shop_domain", "customer_id", "shopify_request_id", "event_link", "received_at",
                       "due_at", "state", "completed_at", "error_class", "evidence_json"]
    fields = list(readonly_fields)  # type: ignore[assignment]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ComplianceRequest | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ComplianceRequest | None = None) -> bool:
        return False  # the evidence of a legal obligation

    @admin.display(description="Status", ordering="status")
    def state(self, obj: ComplianceRequest) -> SafeString:
        late = obj.status in (RequestStatus.PENDING, RequestStatus.FAILED) and obj.due_at < timezone.now()
        label = f"{obj.get_status_display()}, overdue" if late and obj.status != RequestStatus.PENDING else (
            "Overdue" if late else obj.get_status_display())
        return status_badge(COLOURS["overdue" if late else obj.status], label)

    @admin.display(description="Event")
    def event_link(self, obj: ComplianceRequest) -> str:
        if obj.event_id is None:
            return "deleted by retention"
        url = reverse("admin:webhooks_webhookevent_change", args=[obj.event_id])
        return format_html('<a href="{}">event {}</a>', url, obj.event_id)

    @admin.display(description="Evidence")
    def evidence_json(self, obj: ComplianceRequest) -> SafeString:
        return pretty_json(obj.evidence)
