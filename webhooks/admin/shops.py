"""Admin: shops (offline token write-only) and customer data exports (download)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header, urlencode
from django.utils.safestring import SafeString
from django.utils.text import get_valid_filename

from webhooks.admin.kit import COUNT_CAP, add_related_links, count_of, related_links
from webhooks.models import ComplianceRequest, CustomerDataExport, Shop, WebhookEvent


class ShopForm(forms.ModelForm):
    # Write-only: the widget never renders a value, and the field is not a model field,
    # so neither the form nor the change history ever holds the token in clear.
    new_offline_token = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        help_text="Paste a new offline access token to replace the stored one. Never shown.",
    )
    clear_offline_token = forms.BooleanField(required=False, help_text="Delete the stored token.")

    class Meta:
        model = Shop
        fields = ["domain", "installed", "scopes"]


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    form = ShopForm
    list_display = ["domain", "installed", "has_token", "token_invalid_at", "uninstalled_at", "redacted_at"]
    list_filter = ["installed"]
    search_fields = ["domain"]
    readonly_fields = [
        "related", "installed_at", "uninstalled_at", "scopes_updated_at", "token_invalid_at", "redacted_at", "has_token",
    ]
    fieldsets = (
        ("Deliveries and dead letters", {"fields": ("related",)}),
        (None, {"fields": (
            "domain", "installed", "installed_at", "uninstalled_at", "scopes", "scopes_updated_at", "has_token",
            "token_invalid_at", "redacted_at", "new_offline_token", "clear_offline_token",
        )}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Shop | None = None) -> Any:
        if self.has_change_permission(request, obj):
            return self.fieldsets
        # Looking only: the write-only token fields have nothing to show.
        hidden = {"new_offline_token", "clear_offline_token"}
        return [(title, {**opts, "fields": [f for f in opts["fields"] if f not in hidden]}) for title, opts in self.fieldsets]

    @admin.display(description="Links")
    def related(self, obj: Shop) -> SafeString | str:
        return related_links(obj) if obj.pk else "-"

    @admin.display(description="Offline token", boolean=True)
    def has_token(self, obj: Shop) -> bool:
        return obj.has_offline_token

    def save_model(self, request: HttpRequest, obj: Shop, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        token = form.cleaned_data.get("new_offline_token")
        if token:
            obj.set_offline_token(token)
        elif form.cleaned_data.get("clear_offline_token"):
            obj.clear_offline_token()


def _deliveries(shop: Shop) -> list[SafeString]:
    # Bounded like the changelists' own count: a big shop shows "10000+".
    n = WebhookEvent.objects.filter(shop_domain=shop.domain)[: COUNT_CAP + 1].count()
    url = reverse("admin:webhooks_webhookevent_changelist") + "?" + urlencode({"shop_domain": shop.domain})
    shown = f"{COUNT_CAP}+ deliveries" if n > COUNT_CAP else count_of(n, "delivery", "deliveries")
    return [format_html('<a href="{}" id="shop-deliveries">All deliveries: {}</a>', url, shown)]


add_related_links(Shop, _deliveries)


@admin.register(CustomerDataExport)
class CustomerDataExportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "shop_domain", "customer_id", "data_request_id", "item_count", "download"]
    list_filter = ["shop_domain"]
    search_fields = ["shop_domain", "customer_id", "data_request_id"]
    exclude = ["document"]  # personal data: downloaded on purpose, not shown in passing
    readonly_fields = ["shop_domain", "customer_id", "data_request_id", "event", "created_at", "item_count", "download"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CustomerDataExport | None = None) -> bool:
        return False

    def has_download_permission(self, request: HttpRequest) -> bool:
        """A customer's personal data leaves the console only with its own permission."""
        return request.user.has_perm("webhooks.download_customerdataexport")

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        return shown if self.has_download_permission(request) else [f for f in shown if f != "download"]

    @admin.display(description="Download")
    def download(self, obj: CustomerDataExport) -> str:
        url = reverse("admin:webhooks_customerdataexport_download", args=[obj.pk])
        return format_html('<a href="{}">JSON</a>', url)

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:pk>/download/", self.admin_site.admin_view(self.download_view),
                name="webhooks_customerdataexport_download",
            )
        ]
        return extra + super().get_urls()

    def download_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The export as a JSON file; the admin log and the compliance request's evidence
        record who downloaded it and when."""
        if not self.has_download_permission(request):
            raise PermissionDenied
        export = get_object_or_404(CustomerDataExport, pk=pk)
        self.log_change(request, export, "Downloaded the export")
        tracked = ComplianceRequest.objects.filter(evidence__export_id=export.pk).first()
        if tracked is not None:
            tracked.record_download(request.user)
        body = json.dumps(export.document, indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        # The customer id and shop come from a payload: get_valid_filename keeps letters,
        # digits, dots and dashes, and Django's own header builder quotes the rest.
        filename = get_valid_filename(f"customer-{export.customer_id}-{export.shop_domain}-{export.pk}.json")
        disposition = content_disposition_header(as_attachment=True, filename=filename)
        assert disposition is not None  # always a header for an attachment
        response["Content-Disposition"] = disposition
        return response
