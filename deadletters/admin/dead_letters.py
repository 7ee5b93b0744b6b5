"""The dead-letter changelist, detail page and actions.

Every action is gated by a permission (`has_<perm>_permission`), shows a confirmation page
with the count and a sample, calls the model (or queryset) method counting ok / failed
without stopping half-way, writes one admin log entry per change and sends one message.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import DELETION, LogEntry
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from deadletters.admin import confirm, edit_replay, pages
from deadletters.admin.replay_options import BadOptions, ReplayOptions
from deadletters.batches import BatchOrigin, ReplayBatch
from deadletters.models import DeadLetter, DeadLetterQuerySet, audit_line
from deadletters.replay import replay_many
from webhooks.admin.events import CappedPaginator, monospace, pretty_json, status_badge
from webhooks.models import WebhookEvent

# Looks like a host name: letters, digits and hyphens in dot-separated labels.
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)+$")


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    BUCKETS = {"1h": (None, 1), "24h": (1, 24), "7d": (24, 24 * 7), "older": (24 * 7, None)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1h", "Last hour"), ("24h", "1 to 24 hours"), ("7d", "1 to 7 days"), ("older", "Older than 7 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
        bucket = self.BUCKETS.get(self.value() or "")
        if bucket is None:
            return queryset
        newest, oldest = bucket
        now = timezone.now()
        if newest is not None:
            queryset = queryset.filter(created_at__lte=now - timedelta(hours=newest))
        if oldest is not None:
            queryset = queryset.filter(created_at__gt=now - timedelta(hours=oldest))
        return queryset


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """AllValuesFieldListFilter whose choices come from an index led by the column.

    `SELECT DISTINCT` reads every row (136 ms of a 200 ms changelist at 100,000 dead
    letters); on PostgreSQL a loose index scan asks the index for the next value after the
    previous one, so the cost follows the number of distinct values, not of rows. At most
    MAX_CHOICES values are listed."""

    MAX_CHOICES = 200

    def __init__(self, field: Any, request: HttpRequest, params: Any, model: Any, model_admin: Any, field_path: str) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        if connection.vendor == "postgresql" and field_path == field.name:
            table, column = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(field.column)
            # Only quoted names are interpolated.
            sql = (
                f"WITH RECURSIVE v(x) AS ((SELECT {column} FROM {table} ORDER BY {column} LIMIT 1) "  # noqa: S608
                f"UNION ALL SELECT (SELECT {column} FROM {table} WHERE {column} > v.x ORDER BY {column} LIMIT 1) "
                f"FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL LIMIT %s"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [self.MAX_CHOICES])
                self.lookup_choices = [row[0] for row in cursor.fetchall()]  # type: ignore[assignment]


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "status_badge", "age", "topic", "shop_domain", "error_class_short", "short_message", "replay_count")
    list_display_links = ("id", "age")
    # No shop filter: with thousands of shops a list in the sidebar helps nobody, and the
    # search box finds a shop (or the beginning of its domain) from an index.
    list_filter = ("status", ("topic", IndexedValuesFilter), ("error_class", IndexedValuesFilter), AgeFilter)
    search_fields = ("shop_domain", "=event__webhook_id", "error_message", "error_class")
    search_help_text = "A shop domain (or its beginning), a webhook id (exact), or words of the error."
    ordering = ("-created_at",)
    list_per_page = 50

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DeadLetter], search_term: str
    ) -> tuple[QuerySet[DeadLetter], bool]:
        # A shop domain or a webhook id is answered from indexes (shop prefix, the event's
        # delivery index); only words of an error fall back to the substring search.
        term = search_term.strip()
        if term and " " not in term:
            by_webhook = Q(event_id__in=WebhookEvent.objects.filter(webhook_id=term).values("pk"))
            if SHOP_DOMAIN.match(term.lower()):
                domain = term.lower()
                return queryset.filter(Q(shop_domain=domain) | Q(shop_domain__startswith=domain) | by_webhook), False
            if WebhookEvent.objects.filter(webhook_id=term).exists():
                return queryset.filter(by_webhook), False
        return super().get_search_results(request, queryset, search_term)
    # In an outage the table grows fast: no full COUNT(*), as for events.
    paginator = CappedPaginator
    show_full_result_count = False
    actions = ["replay", "dry_run", "resolve", "ignore", "cleanup", "delete_selected"]
    fieldsets = (
        (None, {"fields": ("status_badge", "age", "event_link", "topic", "shop_domain", "replay_count",
                           "last_replayed_at", "last_replay_error", "resolved_by", "resolved_at", "note")}),
        ("Why it failed", {"fields": ("error_class", "error_message", "traceback_pre", "group_link")}),
        ("Payload", {"fields": ("payload_pretty",)}),
        ("Attempts", {"fields": ("attempt_table",)}),
        ("Replays and dry runs", {"fields": ("replay_table",)}),
    )
    change_list_template = "admin/deadletters/deadletter/change_list.html"
    change_form_template = "admin/deadletters/deadletter/change_form.html"

    # --- permissions -------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # dead letters are opened by processing only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # evidence: changed only through the actions below

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

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"can_replay": self.has_replay_permission(request), "query": request.GET.urlencode()}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"can_replay": self.has_replay_permission(request), "can_resolve": self.has_resolve_permission(request),
                 "can_edit_replay": edit_replay.may_edit(request)}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    # --- columns and detail fields -----------------------------------------------------

    @admin.display(description="age", ordering="-created_at")
    def age(self, obj: DeadLetter) -> str:
        return timesince(obj.created_at).split(",")[0]

    @admin.display(description="error class", ordering="error_class")
    def error_class_short(self, obj: DeadLetter) -> SafeString:
        return format_html('<span title="{}">{}</span>', obj.error_class, obj.error_class.rsplit(".", 1)[-1])

    @admin.display(description="message")
    def short_message(self, obj: DeadLetter) -> str:
        line = (obj.error_message.strip().splitlines() or [""])[0]
        return line if len(line) <= 90 else line[:89] + "…"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: DeadLetter) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="event")
    def event_link(self, obj: DeadLetter) -> SafeString:
        url = reverse("admin:webhooks_webhookevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{} (webhook id {})</a> {}', url, obj.event_id, obj.event.webhook_id,
                           status_badge(obj.event.status))

    @admin.display(description="traceback")
    def traceback_pre(self, obj: DeadLetter) -> SafeString:
        return monospace(obj.traceback)

    @admin.display(description="error group")
    def group_link(self, obj: DeadLetter) -> SafeString:
        url = reverse("admin:deadletters_deadletter_changelist") + f"?fingerprint={obj.fingerprint}"
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

    # --- actions -----------------------------------------------------------------------

    def back(self, request: HttpRequest) -> HttpResponseRedirect | None:
        """Where the operator started (the detail page's buttons send `next`), else the
        changelist: after replaying one dead letter they want to see its new state."""
        target = request.POST.get("next", "")
        if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            return HttpResponseRedirect(target)
        return None

    def run_replays(
        self, request: HttpRequest, ids: list[int], description: str, *, origin: str = BatchOrigin.SELECTION,
        origin_url: str = "",
    ) -> HttpResponseRedirect | None:
        """Replay a confirmed set: in the request up to the inline limit, else as a batch
        at the confirmed rate, with its canary. Either way with the chosen destination."""
        try:
            options = ReplayOptions.from_post(request)
        except BadOptions as exc:
            self.message_user(request, f"Nothing was replayed: {exc}", messages.ERROR)
            return self.back(request)
        if len(ids) > settings.DEADLETTER_INLINE_REPLAY_LIMIT:
            batch = ReplayBatch.start(
                ids, request.user, description, rate=options.rate, canary=options.canary, origin=origin,
                origin_url=origin_url, destination=options.destination, include_superseded=options.include_superseded,
            )
            self.log_addition(request, batch, f"Started: {description}")
            self.message_user(request, f"Replaying {len(ids)} dead letters in the background.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:deadletters_replaybatch_change", args=[batch.pk]))
        # One chunked replay (deadletters.replay); it never raises half-way and writes the
        # admin log entry of each dead letter in the operator's name.
        records = replay_many(ids, request.user, source="admin", log="Replayed", destination=options.destination,
                              include_superseded=options.include_superseded)
        counts = {"ok": 0, "failed": 0, "skipped": 0, "superseded": 0}
        for record in records:
            counts[{"ok": "ok", "ignored": "ok", "skipped": "skipped", "superseded": "superseded"}.get(
                record.outcome, "failed")] += 1
        level = messages.SUCCESS if not counts["failed"] else messages.WARNING
        self.message_user(
            request, f"Replayed {sum(counts.values())}: {counts['ok']} resolved, {counts['failed']} failed again, "
            f"{counts['skipped']} skipped" + (
                f", {counts['superseded']} superseded by a newer delivery (resolved)." if counts["superseded"] else "."),
            level,
        )
        return self.back(request)

    @admin.action(description="Replay selected dead letters", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: DeadLetterQuerySet) -> HttpResponse | None:
        ids = confirm.confirmed_ids(request, "replay")
        if ids is not None:
            return self.run_replays(request, ids, f"Replay of {len(ids)} selected dead letters")
        ids = list(queryset.replayable().values_list("pk", flat=True))
        if not ids:
            self.message_user(request, "Nothing to replay: none of the selected dead letters is open.", messages.WARNING)
            return None
        return confirm.render(self, request, ids, purpose="replay", action="replay", title="Replay dead letters",
                              question="Run the handler again for these dead letters?", button="Yes, replay them",
                              replay=True)

    @admin.action(description="Dry-run replay (changes nothing)", permissions=["replay"])
    def dry_run(self, request: HttpRequest, queryset: DeadLetterQuerySet) -> HttpResponse | None:
        ids = confirm.confirmed_ids(request, "dry_run")
        if ids is None:
            ids = list(queryset.values_list("pk", flat=True))
            return confirm.render(self, request, ids, purpose="dry_run", action="dry_run", title="Dry-run replay",
                                  question="Run the handler in a transaction that is rolled back, to see what a "
                                           "replay would do?", button="Yes, dry-run")
        limit = settings.DEADLETTER_INLINE_REPLAY_LIMIT
        if len(ids) > limit:
            self.message_user(request, f"A dry run takes at most {limit} dead letters at a time.", messages.ERROR)
            return None
        results = []
        for dead_letter in DeadLetter.objects.filter(pk__in=ids).select_related("event"):
            try:
                record = dead_letter.dry_run(request.user)
            except Exception as exc:  # noqa: BLE001 - report it, carry on
                results.append((dead_letter, "failed", f"{type(exc).__name__}: {exc}"))
                continue
            self.log_change(request, dead_letter, audit_line("Dry run", record.get_outcome_display(), record.error_class))
            results.append((dead_letter, record.outcome, record.error.split("\n", 1)[0] or record.summary))
        return pages.dry_run_results(self, request, results)

    def _close(self, request: HttpRequest, queryset: DeadLetterQuerySet, kind: str) -> HttpResponse | None:
        ids = confirm.confirmed_ids(request, kind)
        note = request.POST.get("note", "").strip()
        if ids is None or not note:
            if ids is None:
                ids = list(queryset.replayable().values_list("pk", flat=True))
            if not ids:
                self.message_user(request, f"Nothing to {kind}: none of the selected dead letters is open.", messages.WARNING)
                return None
            return confirm.render(
                self, request, ids, purpose=kind, action=kind, title=f"{kind.capitalize()} dead letters", note_required=True,
                question=f"Mark these dead letters as {'resolved' if kind == 'resolve' else 'ignored'}?",
                button=f"Yes, {kind} them", error="A note is required." if request.POST.get("post") == "yes" else "",
            )
        done, past = 0, "resolved" if kind == "resolve" else "ignored"
        for dead_letter in DeadLetter.objects.filter(pk__in=ids):
            changed = dead_letter.resolve(request.user, note) if kind == "resolve" else dead_letter.ignore(request.user, note)
            if changed:
                done += 1
                # The note is on the dead letter (where redaction reaches it), not in the log.
                self.log_change(request, dead_letter, audit_line(f"{past.capitalize()} with a note"))
        self.message_user(request, f"{done} dead letter(s) {past}; {len(ids) - done} were no longer open.", messages.SUCCESS)
        return self.back(request)

    @admin.action(description="Resolve (with a note)", permissions=["resolve"])
    def resolve(self, request: HttpRequest, queryset: DeadLetterQuerySet) -> HttpResponse | None:
        return self._close(request, queryset, "resolve")

    @admin.action(description="Ignore (with a note)", permissions=["resolve"])
    def ignore(self, request: HttpRequest, queryset: DeadLetterQuerySet) -> HttpResponse | None:
        return self._close(request, queryset, "ignore")

    @admin.action(description="Clean up resolved and ignored dead letters older than N days", permissions=["cleanup"])
    def cleanup(self, request: HttpRequest, queryset: DeadLetterQuerySet) -> HttpResponse | None:
        days, error = confirm.cleanup_days(request)
        ids = confirm.confirmed_ids(request, "cleanup")
        if error or ids is None or "recount" in request.POST:
            # A bad day count shows its error and selects nothing: nothing can be deleted.
            ids = [] if isinstance(days, str) else list(queryset.cleanable(days).values_list("pk", flat=True))
            return confirm.render(
                self, request, ids, purpose="cleanup", action="cleanup", days=days, title="Clean up dead letters",
                question="Delete these resolved and ignored dead letters and their replay history?",
                button="Yes, delete them", error=error,
            )
        assert isinstance(days, int)  # cleanup_days returns the typed text only with an error
        doomed = DeadLetter.objects.filter(pk__in=ids).cleanable(days)
        assert request.user.pk is not None  # an admin view: always a logged-in user
        LogEntry.objects.log_actions(
            request.user.pk, doomed, DELETION, change_message=f"Cleaned up: resolved or ignored, older than {days} days"
        )
        deleted = DeadLetter.objects.filter(pk__in=ids).cleanup(days)
        self.message_user(request, f"Deleted {deleted} dead letter(s) older than {days} days.", messages.SUCCESS)
        return None


def _replay_kind(record: Any) -> str:
    revision = record.payload_revision
    return f"replay on payload revision {revision.number}" if revision is not None else "replay"
