"""The compliance-request tracker: every customers/data_request, customers/redact and
shop/redact, with Shopify's 30-day deadline and evidence that holds no personal data.

A row is written by the privacy handler itself, in the transaction of its work: pending
when it starts, done with its evidence when it ends (so a rolled-back attempt leaves
nothing half-done). A request whose event dies is recorded as failed by the `event_dead`
receiver, with the error class only; a later successful replay makes it done. Both live
with the privacy handlers (webhooks.handlers.privacy: `track`, `request_failed`): this
module is the table, below webhooks.models, and reads no event.
Pending rows past their due date are overdue (`mark_overdue`, run by the alerting check;
`overdue()` counts them either way). Alerting raises level 2 for `needing_attention()`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

# Shopify's deadline for both redaction and data requests, counted from receipt.
DUE_DAYS = 30
# A request this close to its deadline (or past it) and not done needs someone.
WARN_DAYS = 3
TOPICS = ("customers/data_request", "customers/redact", "shop/redact")


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    OVERDUE = "overdue", "Overdue"


NOT_DONE = (RequestStatus.PENDING, RequestStatus.FAILED, RequestStatus.OVERDUE)


class ComplianceRequestQuerySet(models.QuerySet["ComplianceRequest"]):
    def open(self) -> ComplianceRequestQuerySet:
        """Not done yet: pending, failed or overdue (the dashboard's count)."""
        return self.filter(status__in=NOT_DONE)

    def overdue(self, now: datetime | None = None) -> ComplianceRequestQuerySet:
        """Not done and past the due date, whether or not mark_overdue has run since."""
        return self.open().filter(due_at__lt=now or timezone.now())

    def needing_attention(self, now: datetime | None = None) -> ComplianceRequestQuerySet:
        """What alerting raises level 2 for: failed, or not done within WARN_DAYS of the
        deadline (overdue ones included)."""
        soon = (now or timezone.now()) + timedelta(days=WARN_DAYS)
        return self.filter(Q(status=RequestStatus.FAILED) | Q(status__in=NOT_DONE, due_at__lte=soon))

    def mark_overdue(self, now: datetime | None = None) -> int:
        """Pending requests past their due date become overdue; returns how many."""
        return self.filter(status=RequestStatus.PENDING, due_at__lt=now or timezone.now()).update(
            status=RequestStatus.OVERDUE, updated_at=timezone.now()
        )


class ComplianceRequest(models.Model):
    """One privacy request from Shopify and what became of it."""

    shop_domain = models.CharField(max_length=255, help_text="The shop, from the signed payload.")
    kind = models.CharField(max_length=40, help_text="customers/data_request, customers/redact or shop/redact.")
    shopify_request_id = models.CharField(max_length=64, blank=True, help_text="Shopify's data request id, if any.")
    customer_id = models.CharField(max_length=64, blank=True, help_text="Shopify's customer id (customer requests).")
    # No database constraint, like CustomerDataExport.event: written under the event's
    # claim; retention clears it in the transaction that deletes the event, and the row
    # stays as the evidence.
    event = models.OneToOneField(
        "webhooks.WebhookEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="compliance_request",
        db_constraint=False, help_text="The webhook event that carried the request (gone after retention).",
    )
    received_at = models.DateTimeField(help_text="When the request was received.")
    due_at = models.DateTimeField(help_text=f"Shopify's deadline: {DUE_DAYS} days after receipt.")
    status = models.CharField(max_length=20, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    completed_at = models.DateTimeField(null=True, blank=True, help_text="When it was done.")
    error_class = models.CharField(max_length=255, blank=True, help_text="The last failure's exception class.")
    evidence = models.JSONField(
        default=dict, blank=True,
        help_text="Counts and ids only: events scrubbed, exports built, rows erased, export downloads (who, when).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ComplianceRequestQuerySet.as_manager()

    class Meta:
        ordering = ["due_at"]
        indexes = [
            # needing_attention() and open(): not done, by due date (alerting, dashboard).
            models.Index(fields=["status", "due_at"], name="webhooks_compliance_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.shop_domain} due {self.due_at:%Y-%m-%d} ({self.status})"

    def complete(self, **evidence: Any) -> None:
        """Done, with its evidence (counts and ids, never personal data)."""
        self.status, self.completed_at, self.error_class = RequestStatus.DONE, timezone.now(), ""
        self.evidence = {**self.evidence, **evidence}
        self.save(update_fields=["status", "completed_at", "error_class", "evidence", "updated_at"])

    def record_download(self, user: Any) -> None:
        """Note in the evidence who downloaded the export, and when."""
        downloads = [*self.evidence.get("downloads", []), {"user_id": user.pk, "at": timezone.now().isoformat()}]
        self.evidence = {**self.evidence, "downloads": downloads}
        self.save(update_fields=["evidence", "updated_at"])
