"""Replaying dead letters, one or many: the one replay path.

`replay_one()`, `replay_many()`, the admin's replay actions, the command line, edit and
replay, and replay batches all come here (the models do not: this module builds on them). Dead letters are replayed in chunks of
DEADLETTER_REPLAY_CHUNK, and a chunk in two short transactions:

1. The claim. The chunk's dead letters are locked in primary-key order (two replays of
   overlapping sets wait a moment for each other instead of deadlocking) and the open ones
   (or replays whose lease lapsed) are taken with one conditional UPDATE; what another
   replay holds is skipped. Their events are claimed with one more (processing.claim_many).
   Committed, the claims tell any other replay to keep off.
2. The work (processing.replay_claimed). Each handler runs in a savepoint of its own: a
   failure rolls back only its own work. The events' outcomes and attempt rows, then the
   dead letters' resolve or reopen, the replay records and the admin log entries are
   written with a few set-based statements, and all of it commits at once.

A dead letter whose handler works outside the database (forwarding) is replayed in a part
of its own, so that a slow destination never keeps a whole chunk's claims past their lease.
A crash outside a handler rolls the work back, and the claims are given back at once: the
dead letters are open again with the error (as a failed replay), their events dead again.
If even that fails, the leases lapse: the dead letters can be replayed again and the
sweeper picks up the events, as after any replay that died.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deadletters import staleness
from deadletters.actors import user_or_none
from deadletters.models import (
    DeadLetter,
    DeadLetterStatus,
    ReplayOutcome,
    ReplayRecord,
    _replayable,
    audit_line,
    fingerprint,
)
from webhooks import handlers, processing, textsafe
from webhooks.models import AttemptOutcome, EventStatus, WebhookEvent
from webhooks.revisions import PayloadRevision

if TYPE_CHECKING:
    from deadletters.actors import Actor
    from webhooks.processing import AttemptResult

logger = logging.getLogger(__name__)

NOT_OPEN = "not open, or being replayed by someone else"
# Dead letters looked at per query by `superseded`.
SUPERSEDED_CHUNK = 500
# What a claim reads of each dead letter: enough to decide, to write and to name it.
CLAIM_FIELDS = ("id", "event_id", "status", "replay_lease_expires_at", "provider", "topic", "shop_domain")


class _Plan(NamedTuple):
    """What became of one dead letter, before it is written down."""

    dead_letter: DeadLetter
    outcome: str
    error: str = ""
    summary: str = ""
    traceback: str = ""
    own_ms: float = 0.0  # its handler's time


def chunk_size() -> int:
    return max(1, int(settings.DEADLETTER_REPLAY_CHUNK))


def replay_one(dead_letter: DeadLetter, actor: Actor = None, *, source: str = "admin", log: str = "") -> ReplayRecord:
    """Run the dead letter's handler once more: a replay of one. Success resolves the dead
    letter (the event is then processed); failure puts it back to open with the new error.
    Two replays at once (two staff clicking, a double click) claim it with one conditional
    UPDATE: one runs the handler, the other is skipped. Never raises for a handler error:
    the outcome is in the returned ReplayRecord. `log`: the start of the admin log message
    written in the actor's name. `dead_letter` is read again afterwards."""
    records = replay_chunk([dead_letter.pk], actor, source=source, log=log)
    dead_letter.refresh_from_db()
    return records[0]


def replay_many(
    ids: list[int], actor: Actor = None, *, source: str = "admin", log: str = "", destination: Any = None,
    include_superseded: bool = False,
) -> list[ReplayRecord]:
    """Replay these dead letters chunk by chunk; one record per dead letter that exists, in
    the order of `ids`. Never raises half-way (see `replay_chunks`)."""
    return [record for records in replay_chunks(ids, actor, source=source, log=log, destination=destination,
                                                include_superseded=include_superseded) for record in records]


def replay_chunks(
    ids: list[int], actor: Actor = None, *, source: str = "admin", log: str = "", destination: Any = None,
    include_superseded: bool = False,
) -> Iterator[list[ReplayRecord]]:
    """Replay `ids` a chunk at a time, yielding each chunk's records once it is committed.
    A chunk the database refused outright (nothing of it was done) is logged and comes back
    as unsaved failed records, and the next chunk is tried: for callers that report per
    item and carry on, like the admin and the command line."""
    size = chunk_size()
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        try:
            records = replay_chunk(chunk, actor, source=source, log=log, destination=destination,
                                   include_superseded=include_superseded)
        except Exception as exc:  # noqa: BLE001 - report it per item and carry on
            logger.exception("replay of dead letters %s could not run", chunk)
            error = f"{type(exc).__name__}: {exc}"[:1000]
            records = [
                ReplayRecord(dead_letter_id=pk, actor=user_or_none(actor), source=source[:20],
                             outcome=ReplayOutcome.FAILED, error=error)
                for pk in chunk
            ]
        yield records


def replay_chunk(
    ids: list[int], actor: Actor = None, *, source: str = "admin", log: str = "", destination: Any = None,
    revision: PayloadRevision | None = None, include_superseded: bool = False,
) -> list[ReplayRecord]:
    """Replay up to a chunk of dead letters (see the module docstring); returns their
    records in the order of `ids`, none for an id that does not exist. `log`: the start of
    the admin log message written for each (in the actor's name); empty writes none.
    `destination`: a ForwardDestination that forwarded topics go to instead of their
    route's (the attempt's summary or error names where it went). `revision`: the handler of
    that revision's event runs on the revised payload (edit and replay: deadletters.edit).
    A dead letter a newer processed delivery superseded (deadletters.staleness) is resolved
    as superseded instead of replayed, unless `include_superseded`.
    Raises only when the database refuses the claim or the release after a crash."""
    return [record for _part, records in replay_parts(ids, actor, source=source, log=log, destination=destination,
                                                      revision=revision, include_superseded=include_superseded)
            for record in records]


def replay_parts(
    ids: list[int], actor: Actor = None, *, source: str = "admin", log: str = "", destination: Any = None,
    revision: PayloadRevision | None = None, include_superseded: bool = False,
) -> Generator[tuple[list[int], list[ReplayRecord]], None, None]:
    """`replay_chunk` a part at a time: yields each part's ids and records once it is
    committed, and claims the next part only when asked for it. A caller that stops
    between parts (a paused batch) leaves the rest unclaimed: a forwarded dead letter is a
    part of its own, so a chunk of slow forwards can be stopped after any of them."""
    for part in _parts(ids):
        yield part, _Part(part, actor, source, log, destination, revision, include_superseded).run()


def superseded(dead_letter_ids: Iterable[int]) -> dict[int, int]:
    """{dead letter id: the newest processed delivery that supersedes it} for those of
    `dead_letter_ids` that are superseded."""
    ids = list(dead_letter_ids)
    found: dict[int, int] = {}
    for start in range(0, len(ids), SUPERSEDED_CHUNK):
        rows = DeadLetter.objects.filter(pk__in=ids[start:start + SUPERSEDED_CHUNK]).values_list("pk", "event_id")
        by_event = {event_id: pk for pk, event_id in rows}
        for event_id, newer in staleness.superseding_events(list(by_event)).items():
            found[by_event[event_id]] = newer
    return found


def _parts(ids: list[int]) -> list[list[int]]:
    """The chunk in consecutive runs, cut around each dead letter whose handler works
    outside the database: that one goes alone, with claims as fresh as a single replay's."""
    if len(ids) < 2:
        return [list(ids)]
    topics = {pk: (provider, topic) for pk, provider, topic in
              DeadLetter.objects.filter(pk__in=ids).values_list("pk", "provider", "topic")}
    outside: dict[tuple[str, str], bool] = {}
    parts: list[list[int]] = [[]]
    for pk in ids:
        key = topics.get(pk)
        if key is not None and key not in outside:
            # Routing looks at the provider and topic only; the dead letter copies both.
            func = handlers.resolve(WebhookEvent(provider=key[0], topic=key[1]))
            outside[key] = func is not None and not handlers.is_atomic(func)
        if key is not None and outside[key]:
            parts += [[pk], []]
        else:
            parts[-1].append(pk)
    return [part for part in parts if part]


class _Part:
    """One transaction pair: claim, then work (or, after a crash, give back)."""

    def __init__(
        self, ids: list[int], actor: Actor, source: str, log: str, destination: Any = None,
        revision: PayloadRevision | None = None, include_superseded: bool = False,
    ) -> None:
        self.ids, self.actor, self.source, self.log, self.destination = ids, actor, source, log, destination
        self.revision, self.include_superseded = revision, include_superseded
        self.superseded: dict[int, int] = {}
        self.user = user_or_none(actor)
        # The attempt row says which revision ran, on the event's and the dead letter's pages.
        self.trigger = revision.trigger if revision else "command" if source == "command" else "replay"
        self.t0 = time.perf_counter()
        self.records: list[ReplayRecord] = []

    def run(self) -> list[ReplayRecord]:
        with transaction.atomic():
            self.lease, self.found, self.mine = _claim(self.ids)
            if not self.include_superseded:
                self.resolve_superseded()
            self.event_lease, events = processing.claim_many([self.found[pk].event_id for pk in self.mine])
        claimed = [events[self.found[pk].event_id] for pk in self.mine]
        claimed = [event for event in claimed if processing.holds(event, self.event_lease)]
        for event in claimed:
            if self.revision is not None and event.pk == self.revision.event_id:
                # In memory only: processing writes events with UPDATEs of named columns and
                # never saves this object, so the received payload stays as it came.
                event.payload = self.revision.payload
        try:
            processing.replay_claimed(
                claimed, self.event_lease, trigger=self.trigger, then=self.settle, destination=self.destination
            )
        except BaseException as exc:  # noqa: BLE001 - the claims are given back whatever happened, a timeout too
            logger.exception("replay of dead letters %s crashed; giving their claims back", sorted(self.mine))
            with transaction.atomic():
                processing.release([event.pk for event in claimed], self.event_lease)
                self.settle_crash(f"{type(exc).__name__}: {exc}"[:1000])
            if not isinstance(exc, Exception):
                raise  # a shutdown or the cluster's timeout: given back, now let it do its work
        return self.records

    def resolve_superseded(self) -> None:
        """In the claim transaction: what a newer processed delivery superseded is resolved
        as such (the note names that delivery) and not replayed."""
        by_event = {self.found[pk].event_id: pk for pk in self.mine}
        newer = staleness.superseding_events(list(by_event))
        now = timezone.now()
        for event_id, newer_id in newer.items():
            pk = by_event[event_id]
            self._held(pk).update(status=DeadLetterStatus.RESOLVED, resolved_at=now, resolved_by=self.user,
                                  note=staleness.note(newer_id), replay_lease_expires_at=None, updated_at=now)
            self.superseded[pk] = newer_id
            self.found[pk].status = DeadLetterStatus.RESOLVED
            self.mine.discard(pk)

    def superseded_plan(self, pk: int) -> _Plan:
        return _Plan(self.found[pk], ReplayOutcome.SUPERSEDED, summary=staleness.note(self.superseded[pk]))

    # --- inside the work transaction ---------------------------------------------------

    def settle(self, results: dict[int, AttemptResult | None]) -> None:
        """Each dead letter's outcome from its event's result, as `replay_one` has
        always decided it; then every write in a few statements."""
        self.records = []
        now = timezone.now()
        # Events this replay did not run (not claimable, or taken over meanwhile): what
        # became of them decides whether the dead letter is done.
        unsettled = [self.found[pk].event_id for pk in self.mine if results.get(self.found[pk].event_id) is None]
        statuses = dict(WebhookEvent.objects.filter(pk__in=unsettled).values_list("pk", "status")) if unsettled else {}
        # Read now, not at the claim: a handler of this chunk (a redaction) may have
        # scrubbed them, and the rewrite below must not bring anything back.
        stored = {pk: (note, attempts) for pk, note, attempts in
                  DeadLetter.objects.filter(pk__in=self.mine).values_list("pk", "note", "attempts")} if self.mine else {}
        resolved: dict[str, list[int]] = {}
        quiet_reopen: list[int] = []
        plans: list[_Plan] = []
        for pk in self.ids:
            dead_letter = self.found.get(pk)
            if dead_letter is None:
                continue
            if pk not in self.mine:
                plans.append(self.superseded_plan(pk) if pk in self.superseded else
                             _Plan(dead_letter, ReplayOutcome.SKIPPED, NOT_OPEN))
                continue
            result = results.get(dead_letter.event_id)
            note = stored[pk][0]
            if result is None:
                status = statuses.get(dead_letter.event_id)
                if status in (EventStatus.PROCESSED, EventStatus.IGNORED):
                    resolved.setdefault(f"{note}\nevent already {status}".strip(), []).append(pk)
                    dead_letter.status = DeadLetterStatus.RESOLVED
                    plans.append(_Plan(dead_letter, ReplayOutcome.OK, summary=f"the event was already {status}"))
                else:
                    quiet_reopen.append(pk)
                    dead_letter.status = DeadLetterStatus.OPEN
                    plans.append(_Plan(dead_letter, ReplayOutcome.SKIPPED, f"the event is {status}, not dead"))
            elif result.ok or result.outcome == AttemptOutcome.IGNORED:
                resolved.setdefault(f"{note}\nresolved by replay".strip(), []).append(pk)
                dead_letter.status = DeadLetterStatus.RESOLVED
                outcome = ReplayOutcome.OK if result.ok else ReplayOutcome.IGNORED
                plans.append(_Plan(dead_letter, outcome, summary=result.summary, own_ms=result.duration_ms))
            else:
                error = result.one_line_error
                values = _reopen_values(now, error, counted=True)
                values.update(_failure_values(dead_letter, stored[pk][1], result, error, self.trigger))
                self._held(pk).update(**values)
                dead_letter.status = DeadLetterStatus.OPEN
                outcome = ReplayOutcome.DEFERRED if result.outcome == AttemptOutcome.DEFERRED else ReplayOutcome.FAILED
                plans.append(_Plan(dead_letter, outcome, error, traceback=result.traceback, own_ms=result.duration_ms))
        for note, pks in resolved.items():
            self._held(*pks).update(
                status=DeadLetterStatus.RESOLVED, resolved_at=now, resolved_by=self.user, note=note,
                replay_count=F("replay_count") + 1, last_replayed_at=now, replay_lease_expires_at=None, updated_at=now,
            )
        if quiet_reopen:
            self._held(*quiet_reopen).update(**_reopen_values(now, "", counted=False))
        self._write(plans)

    def settle_crash(self, error: str) -> None:
        """After a crash outside the handlers: what the work transaction did is rolled
        back; each claimed dead letter counts a failed replay and is open again."""
        self.records = []
        if self.mine:
            self._held(*self.mine).update(**_reopen_values(timezone.now(), error, counted=True))
        # One of the others may have been deleted meanwhile (clean-up): no record for it.
        existing = set(DeadLetter.objects.filter(pk__in=self.found).values_list("pk", flat=True))
        plans: list[_Plan] = []
        for pk in self.ids:
            if pk in self.mine:
                self.found[pk].status = DeadLetterStatus.OPEN
                plans.append(_Plan(self.found[pk], ReplayOutcome.FAILED, error))
            elif pk in self.superseded:
                plans.append(self.superseded_plan(pk))
            elif pk in existing:
                plans.append(_Plan(self.found[pk], ReplayOutcome.SKIPPED, NOT_OPEN))
        self._write(plans)

    def _held(self, *pks: int) -> Any:
        # The token check: a replay whose lease lapsed and was taken over writes nothing.
        return DeadLetter.objects.filter(pk__in=pks, status=DeadLetterStatus.REPLAYING, replay_lease_expires_at=self.lease)

    def _write(self, plans: list[_Plan]) -> None:
        """The replay records and admin log entries, one INSERT each. A record's duration
        is its own handler's time plus an equal share of the part's claims and writes."""
        elapsed = (time.perf_counter() - self.t0) * 1000
        share = max(0.0, elapsed - sum(plan.own_ms for plan in plans)) / max(len(plans), 1)
        self.records = ReplayRecord.objects.bulk_create([
            ReplayRecord.build(plan.dead_letter, self.user, self.source, plan.outcome, plan.own_ms + share,
                               error=plan.error, summary=plan.summary, traceback=plan.traceback,
                               revision=self.revision if plan.dead_letter.event_id == getattr(
                                   self.revision, "event_id", None) else None)
            for plan in plans
        ])
        if self.log and self.user is not None:
            _log_entries(self.user, self.log, [(plan.dead_letter, record) for plan, record in zip(plans, self.records, strict=True)])


def _claim(ids: list[int]) -> tuple[datetime, dict[int, DeadLetter], set[int]]:
    """Take the replayable ones among `ids` (call it in a transaction). Returns the lease
    (the claim token), every dead letter found by id, and the ids claimed."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DEADLETTER_REPLAY_LEASE_SECONDS)
    # Locked in primary-key order: two replays of overlapping sets queue up for the moment
    # of this transaction instead of deadlocking. (SQLite has one writer anyway.)
    found = {
        dead_letter.pk: dead_letter
        for dead_letter in DeadLetter.objects.select_for_update().filter(pk__in=ids).order_by("pk").only(*CLAIM_FIELDS)
    }
    wanted = [pk for pk, d in found.items() if d.status == DeadLetterStatus.OPEN or (
        d.status == DeadLetterStatus.REPLAYING and d.replay_lease_expires_at is not None and d.replay_lease_expires_at < now)]
    updated = DeadLetter.objects.filter(_replayable(now), pk__in=wanted).update(
        status=DeadLetterStatus.REPLAYING, replay_lease_expires_at=lease
    )
    if updated != len(wanted):  # without the row locks: ask which rows carry our token
        wanted = list(DeadLetter.objects.filter(
            pk__in=wanted, status=DeadLetterStatus.REPLAYING, replay_lease_expires_at=lease
        ).values_list("pk", flat=True))
    for pk in wanted:
        found[pk].status, found[pk].replay_lease_expires_at = DeadLetterStatus.REPLAYING, lease
    return lease, found, set(wanted)


def _reopen_values(now: datetime, error_line: str, *, counted: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"status": DeadLetterStatus.OPEN, "replay_lease_expires_at": None, "updated_at": now}
    if counted:
        values.update(replay_count=F("replay_count") + 1, last_replayed_at=now,
                      last_replay_error=textsafe.for_field(DeadLetter, "last_replay_error", error_line))
    return values


def _failure_values(
    dead_letter: DeadLetter, attempts: list[Any], result: AttemptResult, error_line: str, trigger: str
) -> dict[str, Any]:
    """The newest failure is the one to read and group by; older ones stay in the attempt
    history (appended to here) and in the replay records."""
    if not result.error_class:
        return {}
    error_class = textsafe.for_field(DeadLetter, "error_class", result.error_class)
    error_message = textsafe.for_field(DeadLetter, "error_message", result.error_message)
    return {
        "error_class": error_class,
        "error_message": error_message,
        "traceback": textsafe.for_field(DeadLetter, "traceback", result.traceback),
        "fingerprint": fingerprint(error_class, error_message, dead_letter.topic),
        "attempts": [*attempts, {
            "number": result.number,
            "trigger": trigger,
            "started_at": result.started_at.isoformat(),
            "duration_ms": round(result.duration_ms, 1),
            "outcome": result.outcome,
            "error": textsafe.clean(error_line, 2000),
        }],
    }


def _log_entries(user: Any, message: str, items: list[tuple[DeadLetter, ReplayRecord]]) -> None:
    """One admin log entry per replay, in the name of who asked for it."""
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(DeadLetter)
    LogEntry.objects.bulk_create([
        LogEntry(
            user_id=user.pk,
            content_type=content_type,
            object_id=str(dead_letter.pk),
            object_repr=str(dead_letter)[:200],
            action_flag=CHANGE,
            change_message=audit_line(message, record.get_outcome_display(), record.error_class),
        )
        for dead_letter, record in items
    ])
