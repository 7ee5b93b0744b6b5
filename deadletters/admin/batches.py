"""Admin: replay batches, the progress of bulk replays. Read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from deadletters.batches import ReplayBatch
from webhooks.admin.kit import status_badge


@admin.register(ReplayBatch)
class ReplayBatchAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "created_at", "created_by", "description", "progress", "ok", "failed", "skipped", "status_badge")
    list_filter = ("status",)
    list_select_related = ("created_by",)
    ordering = ("-created_at",)
    actions: list[Any] = []
    change_form_template = "admin/deadletters/replaybatch/change_form.html"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="done")
    def progress(self, obj: ReplayBatch) -> str:
        return f"{obj.done} / {obj.total}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: ReplayBatch) -> SafeString:
        return status_badge({"finished": "ok", "running": "replaying"}.get(obj.status, "received"), obj.get_status_display())
