"""Shops (the tenants) and the webhook events they send, with every processing attempt.

The app's other models are defined beside the code that knows them best and imported here
(so Django finds them): the breaker's abstract base, the subject index, the compliance
tracker and payload revisions. Those modules import nothing of this one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef
from django.utils import timezone

from webhooks.breaker import BreakerState as BreakerState  # re-exported: admin, forwarding
from webhooks.breaker import CircuitBreaker
from webhooks.compliance import ComplianceRequest  # noqa: F401  (a model of this app)
from webhooks.retention import Deletion, delete_in_batches, relations
from webhooks.revisions import PayloadRevision  # noqa: F401  (a model of this app)
from webhooks.subject_index import EventSubject, SubjectQueries  # noqa: F401  (EventSubject: a model of this app)
from webhooks.tokens import decrypt, encrypt


class Shop(models.Model):
    """A Shopify store that installed the app."""

    domain = models.CharField(
        max_length=255, unique=True, help_text="The shop's myshopify.com domain, e.g. demo-shop.myshopify.com."
    )
    installed = models.BooleanField(default=True, help_text="False once the app/uninstalled webhook arrived.")
    installed_at = models.DateTimeField(default=timezone.now, help_text="When the shop was first seen.")
    uninstalled_at = models.DateTimeField(null=True, blank=True, help_text="When the app was uninstalled.")
    scopes = models.TextField(blank=True, help_text="Access scopes granted, comma-separated, as last reported.")
    scopes_updated_at = models.DateTimeField(null=True, blank=True, help_text="When the scopes last changed.")
    # Fernet ciphertext of the offline access token; never shown, never logged.
    offline_token_ciphertext = models.TextField(blank=True, default="", editable=False)
    token_invalid_at = models.DateTimeField(
        null=True, blank=True, help_text="When the Admin API last rejected the offline token (401)."
    )
    redacted_at = models.DateTimeField(
        null=True, blank=True, help_text="When shop/redact erased this shop's personal data."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    @property
    def has_offline_token(self) -> bool:
        return bool(self.offline_token_ciphertext)

    def offline_token(self) -> str | None:
        """The offline access token in clear, or None when none is stored. Raises
        TokenUnreadable when the key changed since it was stored (webhooks.tokens)."""
        return decrypt(self.offline_token_ciphertext) if self.offline_token_ciphertext else None

    def set_offline_token(self, token: str) -> None:
        """Store a new offline token, encrypted; a new token is presumed valid."""
        self.offline_token_ciphertext = encrypt(token) if token else ""
        self.token_invalid_at = None
        self.save(update_fields=["offline_token_ciphertext", "token_invalid_at", "updated_at"])

    def clear_offline_token(self) -> None:
        self.offline_token_ciphertext = ""
        self.save(update_fields=["offline_token_ciphertext", "updated_at"])

    def mark_token_invalid(self) -> None:
        self.token_invalid_at = timezone.now()
        self.save(update_fields=["token_invalid_at", "updated_at"])


class EventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    # Legacy: nothing writes it any more (a failed attempt leaves the event received, due
    # again, or dead). Kept for rows stored before, which replays, figures and privacy
    # still treat as a failure: do not remove the choice.
    FAILED = "failed", "Failed"
    DEAD = "dead", "Dead"


UNFINISHED = (EventStatus.RECEIVED, EventStatus.PROCESSING)


class WebhookEventQuerySet(SubjectQueries, models.QuerySet["WebhookEvent"]):
    def pending(self) -> WebhookEventQuerySet:
        return self.filter(status__in=UNFINISHED)

    def finished(self) -> WebhookEventQuerySet:
        """Processed, ignored, failed or dead: no worker will touch it again by itself."""
        return self.exclude(status__in=UNFINISHED)

    def deletable(self) -> WebhookEventQuerySet:
        """Leave out every event a PROTECT foreign key points at (a dead letter, whatever its
        status). Found through the model's relations, so this app names no other app."""
        qs = self
        for model, field in relations(self.model, models.PROTECT):
            qs = qs.exclude(Exists(model._base_manager.filter(**{field: OuterRef("pk")})))
        return qs

    def expired(self, days: int) -> WebhookEventQuerySet:
        """What retention deletes: events received more than `days` days ago that are
        finished (deleting one still to be processed would lose a delivery) and that
        nothing protects."""
        return self.filter(received_at__lt=timezone.now() - timedelta(days=days)).finished().deletable()

    def delete_in_batches(
        self,
        batch_size: int | None = None,
        *,
        pause: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Deletion:
        """Delete these events `batch_size` (RETENTION_BATCH_SIZE) at a time, lowest id first,
        each batch one short transaction, `pause` (RETENTION_PAUSE_SECONDS) between two.
        Whatever the filters, an unfinished or protected event is never deleted; see
        webhooks.retention for how a batch runs and why no orphan is left."""
        return delete_in_batches(
            self,
            batch_size or settings.RETENTION_BATCH_SIZE,
            deletable=lambda qs: qs.finished().deletable(),
            pause=settings.RETENTION_PAUSE_SECONDS if pause is None else pause,
            progress=progress,
        )


class WebhookEvent(models.Model):
    """One delivery, stored verbatim (headers redacted) before it is acknowledged."""

    provider = models.CharField(max_length=20, default="shopify", help_text="Who sent it: shopify or stripe.")
    topic = models.CharField(max_length=100, help_text="The webhook topic, e.g. orders/create.")
    shop_domain = models.CharField(max_length=255, blank=True, help_text="The shop the delivery is about.")
    shop = models.ForeignKey(
        Shop, null=True, blank=True, on_delete=models.SET_NULL, related_name="events",
        help_text="Linked when the event is first processed.",
    )
    webhook_id = models.CharField(max_length=255, help_text="The delivery id (X-Shopify-Webhook-Id, Stripe event id).")
    event_id = models.CharField(max_length=255, blank=True, help_text="The event id (X-Shopify-Event-Id).")
    api_version = models.CharField(max_length=20, blank=True, help_text="The API version of the payload.")
    triggered_at = models.DateTimeField(null=True, blank=True, help_text="When the provider says it happened.")
    received_at = models.DateTimeField(default=timezone.now, help_text="When the console stored it.")
    headers = models.JSONField(
        default=dict, blank=True, help_text="Request headers as stored by the intake's one policy: secrets redacted."
    )
    payload = models.JSONField(default=dict, blank=True, help_text="The JSON body as delivered.")
    status = models.CharField(max_length=20, choices=EventStatus.choices, default=EventStatus.RECEIVED)
    attempts = models.PositiveIntegerField(default=0, help_text="Handler attempts so far, replays included.")
    last_error = models.TextField(blank=True, help_text="The last attempt's error, one line.")
    ack_latency_ms = models.FloatField(
        null=True, blank=True, help_text="Time from request start to the stored row, in milliseconds."
    )
    processing_ms = models.FloatField(null=True, blank=True, help_text="Duration of the successful attempt.")
    processed_at = models.DateTimeField(null=True, blank=True, help_text="When processing ended (any outcome).")
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="While processing: when the claim lapses and the sweeper may retry."
    )
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="A waiting event (retry back-off, open circuit breaker) is not picked before this."
    )
    last_enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When it was last handed to a worker.")
    # db_default: the intake's INSERT names its columns (webhooks.store) and leaves these out.
    failures = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Failed attempts counted against the retry budget, worker deaths included."
    )
    waiting_for = models.CharField(
        max_length=120, blank=True, default="", db_default="",
        help_text="While it waits: the breaker it waits for (destination:<id> or topic:<topic>); resume releases it.",
    )
    claimed_for = models.CharField(
        max_length=20, blank=True, default="", db_default="",
        help_text="While processing: 'replay' when a replay of the dead event holds the claim, empty for a worker.",
    )
    synthetic = models.BooleanField(default=False, help_text="A synthetic test delivery: left out of SLO figures.")
    redacted_at = models.DateTimeField(null=True, blank=True, help_text="When personal data was scrubbed from it.")
    subjects_indexed_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When the subject index last read its payload (empty: not indexed yet).",
    )

    objects = WebhookEventQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # Delivery dedupe: ingest inserts with ON CONFLICT DO NOTHING against this.
            # webhook_id leads so the admin's exact search by webhook id uses this index too
            # (ON CONFLICT matches the column set, not its order).
            models.UniqueConstraint(fields=["webhook_id", "provider"], name="webhooks_event_unique_delivery"),
        ]
        indexes = [
            # Retention (delete by age in batches) and the admin's default newest-first order.
            models.Index(fields=["received_at"], name="webhooks_event_received"),
            # Admin status filter and the dashboard's counts by status over time.
            models.Index(fields=["status", "received_at"], name="webhooks_event_status_recv"),
            # Admin search and filter by shop (exact or the domain's beginning: the pattern
            # operator class lets PostgreSQL use it for LIKE 'prefix%' under any collation;
            # other databases ignore opclasses); redaction and data requests per shop.
            models.Index(
                fields=["shop_domain", "received_at"],
                name="webhooks_event_shop_recv",
                opclasses=["varchar_pattern_ops", "timestamptz_ops"],
            ),
            # Admin topic filter; alerting's silence per topic.
            models.Index(fields=["topic", "received_at"], name="webhooks_event_topic_recv"),
            # Admin search by the provider's event id (exact match).
            models.Index(fields=["event_id"], name="webhooks_event_event_id"),
            # The sweeper's scan for unfinished events (lease lapsed, never enqueued).
            models.Index(
                fields=["status", "lease_expires_at"],
                name="webhooks_event_unfinished",
                condition=models.Q(status__in=["received", "processing"]),
            ),
            # The subject index's backfill (oldest unindexed first) and redaction's look at
            # events not indexed yet; small once the backfill is done (only unclaimed ones).
            models.Index(
                fields=["id"], name="webhooks_event_unindexed", condition=models.Q(subjects_indexed_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.shop_domain} {self.webhook_id}"


class AttemptOutcome(models.TextChoices):
    OK = "ok", "Succeeded"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored (no handler)"
    DEFERRED = "deferred", "Deferred (destination paused or circuit open)"


class EventAttempt(models.Model):
    """One run of a handler for an event: the timeline the admin shows."""

    # No database constraint, on purpose (Django still cascades, the index stays): the
    # per-row RI check PostgreSQL runs for this FK when an event is deleted was the biggest
    # cost of retention. An orphan cannot be written: every attempt row is inserted in the
    # transaction whose conditional UPDATE of the event row holds the claim (that UPDATE
    # locks the row; 0 rows updated means the event is gone or taken, and nothing is
    # written), and retention deletes an event's attempts in the transaction that deletes
    # the event (webhooks.processing, WebhookEventQuerySet.delete_in_batches).
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="attempt_log", db_constraint=False)
    number = models.PositiveIntegerField(help_text="1 for the first attempt, counting replays.")
    trigger = models.CharField(max_length=20, default="worker", help_text="worker, sweeper, replay or command.")
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.FloatField(default=0)
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    error_class = models.CharField(max_length=255, blank=True)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    summary = models.CharField(max_length=500, blank=True, help_text="What the handler reported on success.")

    class Meta:
        ordering = ["event", "number"]
        indexes = [
            # customers/redact scrubs error texts: only failed or deferred attempts hold
            # them, a few among millions (partial, so successful attempts cost nothing).
            models.Index(
                fields=["event"], name="webhooks_attempt_failed", condition=models.Q(outcome__in=["failed", "deferred"])
            ),
            # The delivery counters behind /metrics read the attempts of the last hour or so
            # by time on every scrape (timedify_ops.counters).
            models.Index(fields=["started_at"], name="webhooks_attempt_started"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of event {self.event_id}: {self.outcome}"


class RejectedDelivery(models.Model):
    """Counts of refused deliveries per hour and reason; the refused bodies are never stored."""

    provider = models.CharField(max_length=20)
    reason = models.CharField(max_length=40, help_text="bad_signature, missing_header, bad_json, too_large...")
    hour = models.DateTimeField(help_text="The hour the refusals fell in (UTC).")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "reason", "hour"], name="webhooks_rejected_unique_bucket"),
        ]
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"{self.provider} {self.reason} {self.hour:%Y-%m-%d %H}:00 x{self.count}"


class ForwardDestination(CircuitBreaker):
    """An HTTP endpoint events can be forwarded to, with its circuit breaker."""

    name = models.CharField(max_length=100, unique=True, help_text="A short name staff recognise, e.g. app-orders.")
    url = models.URLField(max_length=500, help_text="Where the original body is POSTed, re-signed.")

    threshold_setting = "FORWARD_BREAKER_THRESHOLD"
    cooldown_setting = "FORWARD_BREAKER_COOLDOWN_SECONDS"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # The forward handler runs outside the event's transaction (atomic=False), so the
    # breaker's writes survive a failed delivery.

    @property
    def label(self) -> str:
        return f"destination {self.name!r}"

    @property
    def waiting_key(self) -> str:
        return f"destination:{self.pk}"


class TopicBreaker(CircuitBreaker):
    """The circuit breaker of one topic: a handler that keeps failing (its upstream is
    down) opens it, and the topic's events wait without burning attempts while the other
    topics flow. Created on the topic's first failure."""

    topic = models.CharField(max_length=100, unique=True, help_text="The webhook topic, e.g. orders/create.")

    threshold_setting = "TOPIC_BREAKER_THRESHOLD"
    cooldown_setting = "TOPIC_BREAKER_COOLDOWN_SECONDS"

    class Meta:
        ordering = ["topic"]

    def __str__(self) -> str:
        return self.topic

    @property
    def label(self) -> str:
        return f"topic {self.topic!r}"

    @property
    def waiting_key(self) -> str:
        return f"topic:{self.topic}"


class TopicRoute(models.Model):
    """Send a topic to a forward destination instead of its built-in handler."""

    topic = models.CharField(max_length=100, unique=True, help_text="The webhook topic, e.g. orders/create.")
    destination = models.ForeignKey(ForwardDestination, on_delete=models.PROTECT, related_name="routes")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["topic"]

    def __str__(self) -> str:
        return f"{self.topic} -> {self.destination}"


class CustomerDataExport(models.Model):
    """What customers/data_request collected about one customer: a JSON document staff
    download from the admin and hand to the shop. Deleted by customers/redact and
    shop/redact, since it is nothing but that customer's personal data."""

    shop_domain = models.CharField(max_length=255, help_text="The shop that asked.")
    customer_id = models.CharField(max_length=64, help_text="Shopify's customer id.")
    data_request_id = models.CharField(max_length=64, blank=True, help_text="Shopify's data request id.")
    # No database constraint, like EventAttempt.event and for the same reasons: the export
    # is written by the data_request handler inside the transaction that then takes the
    # event row's claim (a lost claim rolls the export back), and retention clears this
    # column in the transaction that deletes the event.
    event = models.OneToOneField(
        WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="customer_export",
        db_constraint=False,
        help_text="The customers/data_request event that built it (one export per event: a rerun rebuilds it).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    item_count = models.PositiveIntegerField(default=0, help_text="Events and dead letters found.")
    document = models.JSONField(default=dict, help_text="The export itself.")

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            # Viewing the list is not enough to take a customer's data away: see the admin.
            ("download_customerdataexport", "Can download customer data exports"),
        ]
        indexes = [
            # Redaction deletes a customer's exports; the admin filters by shop.
            models.Index(fields=["shop_domain", "customer_id"], name="webhooks_export_customer"),
        ]

    def __str__(self) -> str:
        return f"data export for customer {self.customer_id} of {self.shop_domain}"

