"""The dead-letter actions: replay, dry run, resolve, ignore, reopen,
clean up.

Every action is gated by a permission (`has_<perm>_permission`), shows a confirmation page
with the count and a sample, calls the model (or queryset) method counting ok / failed
without stopping half-way, writes one admin log entry per change and sends one message in
plain English. After it, the operator lands where they started: the list with its filter
(Django redirects an action to the URL it was posted to), or the page that sent `next`.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import DELETION, LogEntry
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from deadletters.admin import confirm, pages
from deadletters.admin.replay_options import BadOptions, ReplayOptions
from deadletters.batches import BatchOrigin, ReplayBatch
from deadletters.models import DeadLetter, DeadLetterQuerySet, audit_line
from deadletters.replay import replay_many
from webhooks.admin.kit import count_of

# kind -> (past tense, what the confirmation asks, which dead letters qualify)
CLOSING = {
    "resolve": ("resolved", "Mark these dead letters as resolved?", "open"),
    "ignore": ("ignored", "Mark these dead letters as ignored? Nobody will be asked to look at them again.", "open"),
    "reopen": ("reopened", "Open these dead letters again, so they show in the open list and can be replayed?",
               "resolved or ignored"),
}


def replay_message(counts: dict[str, int]) -> str:
    """'1 dead letter replayed: resolved.', '3 dead letters replayed: 2 resolved, 1 failed again.'"""
    parts = [f"{counts['ok']} resolved" if counts["ok"] else "",
             f"{counts['failed']} failed again" if counts["failed"] else "",
             f"{counts['skipped']} skipped (no longer open)" if counts["skipped"] else "",
             f"{counts['superseded']} superseded by a newer delivery (resolved)" if counts.get("superseded") else ""]
    total = sum(counts.values())
    said = [p for p in parts if p]
    if total == 1:
        return f"1 dead letter replayed: {said[0].split(' ', 1)[1]}."
    return f"{count_of(total, 'dead letter')} replayed: {', '.join(said)}."


class DeadLetterActions:
    """Mixed into DeadLetterAdmin (a ModelAdmin, which registers them): the actions and
    their helpers."""

    # Provided by ModelAdmin.
    message_user: Any
    log_change: Any

    def back(self, request: HttpRequest) -> HttpResponseRedirect | None:
        """The page that sent `next` (a dead letter's page, the error groups), else None:
        Django then returns to the list the action was posted from, filter and all."""
        return HttpResponseRedirect(confirm.back_url(request)) if request.POST.get("next") else None

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
            cast(Any, self).log_addition(request, batch, f"Started: {description}")
            self.message_user(request, f"Replaying {len(ids)} dead letters in the background.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:deadletters_replaybatch_change", args=[batch.pk]))
        counts = {"ok": 0, "failed": 0, "skipped": 0, "superseded": 0}
        # One chunked replay (deadletters.replay); it never raises half-way and writes the
        # admin log entry of each dead letter in the operator's name.
        for record in replay_many(ids, request.user, source="admin", log="Replayed", destination=options.destination,
                                  include_superseded=options.include_superseded):
            counts[{"ok": "ok", "ignored": "ok", "skipped": "skipped", "superseded": "superseded"}.get(
                record.outcome, "failed")] += 1
        level = messages.SUCCESS if not counts["failed"] else messages.WARNING
        self.message_user(request, replay_message(counts), level)
        return self.back(request)

    @admin.action(description="Replay selected dead letters", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: DeadLetterQuerySet) -> HttpResponse | None:
        ids = confirm.confirmed_ids(request, "replay")
        if ids is not None:
            return self.run_replays(request, ids, f"Replay of {len(ids)} selected dead letters")
        ids = list(queryset.replayable().values_list("pk", flat=True))
        if not ids:
            self.message_user(request, "Nothing to replay: none of the selected dead letters is open.", messages.WARNING)
            return self.back(request)
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

    def _change_status(self, request: HttpRequest, queryset: DeadLetterQuerySet, kind: str) -> HttpResponse | None:
        """Resolve, ignore or reopen, each with a required note."""
        past, question, which = CLOSING[kind]
        ids = confirm.confirmed_ids(request, kind)
        note = request.POST.get("note", "").strip()
        if ids is None or not note:
            if ids is None:
                candidates = queryset.replayable() if kind != "reopen" else queryset.filter(status__in=["resolved", "ignored"])
                ids = list(candidates.values_list("pk", flat=True))
            if not ids:
                self.message_user(request, f"Nothing to {kind}: none of the selected dead letters is {which}.",
                                  messages.WARNING)
                return self.back(request)
            return confirm.render(
                self, request, ids, purpose=kind, action=kind, title=f"{kind.capitalize()} dead letters",
                note_required=True, question=question, button=f"Yes, {kind} {'it' if len(ids) == 1 else 'them'}",
                error="A note is required." if request.POST.get("post") == "yes" else "",
            )
        done = 0
        for dead_letter in DeadLetter.objects.filter(pk__in=ids):
            if getattr(dead_letter, kind)(request.user, note):
                done += 1
                # The note is on the dead letter (where redaction reaches it), not in the log.
                self.log_change(request, dead_letter, audit_line(f"{past.capitalize()} with a note"))
        text = f"{count_of(done, 'dead letter')} {past}."
        if done < len(ids):
            gone = len(ids) - done
            text += f" {count_of(gone, 'other was', 'others were')} no longer {which}, and left as {'it was' if gone == 1 else 'they were'}."
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)
        return self.back(request)

    @admin.action(description="Resolve (with a note)", permissions=["resolve"])
    def resolve(self, request: HttpRequest, queryset: DeadLetterQuerySet) -> HttpResponse | None:
        return self._change_status(request, queryset, "resolve")

    @admin.action(description="Ignore (with a note)", permissions=["resolve"])
    def ignore(self, request: HttpRequest, queryset: DeadLetterQuerySet) -> HttpResponse | None:
        return self._change_status(request, queryset, "ignore")

    @admin.action(description="Reopen resolved or ignored (with a note)", permissions=["resolve"])
    def reopen(self, request: HttpRequest, queryset: DeadLetterQuerySet) -> HttpResponse | None:
        return self._change_status(request, queryset, "reopen")

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
                button="Yes, delete them", error=error, destructive=True,
            )
        assert isinstance(days, int)  # cleanup_days returns the typed text only with an error
        doomed = DeadLetter.objects.filter(pk__in=ids).cleanable(days)
        assert request.user.pk is not None  # an admin view: always a logged-in user
        LogEntry.objects.log_actions(
            request.user.pk, doomed, DELETION, change_message=f"Cleaned up: resolved or ignored, older than {days} days"
        )
        deleted = DeadLetter.objects.filter(pk__in=ids).cleanup(days)
        self.message_user(request, f"{count_of(deleted, 'dead letter')} older than {days} days deleted.", messages.SUCCESS)
        return None
