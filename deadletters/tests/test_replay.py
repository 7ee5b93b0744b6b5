"""The replay path itself (deadletters.replay): chunks, per-item outcomes, records and log
entries, crashes, commits per chunk. Every replay, one or many, goes through it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.db import connection
from django.db import utils as db_utils
from django.utils import timezone

from conftest import database_refuses
from deadletters import replay
from deadletters.models import DeadLetter, ReplayRecord, fingerprint
from deadletters.tests import factories
from deadletters.tests.factories import committed_runs, make_dead_letters
from webhooks import handlers, processing
from webhooks.errors import RetryLater
from webhooks.models import EventAttempt, Shop, WebhookEvent


def dead_letter_for(topic: str, payload: dict[str, Any], shop: str = "mixed-shop.myshopify.com") -> DeadLetter:
    """A dead event of `topic` and its open dead letter, as processing leaves them, for a
    topic whose handler is not the test's (a built-in one, or none at all)."""
    event = WebhookEvent.objects.create(
        topic=topic, shop_domain=shop, webhook_id=f"replay-{uuid.uuid4()}", payload=payload, status="dead", attempts=5,
        last_error="RuntimeError: boom",
    )
    return DeadLetter.objects.create(
        event=event, topic=topic, shop_domain=shop, error_class="RuntimeError", error_message="boom",
        fingerprint=fingerprint("RuntimeError", "boom", topic), attempts=[],
    )


def later(ctx: handlers.HandlerContext) -> str:
    raise RetryLater(timezone.now() + timedelta(minutes=5), "destination paused")


def outside(ctx: handlers.HandlerContext) -> str:
    return "posted somewhere"


outside.atomic = False  # type: ignore[attr-defined]


@pytest.fixture
def extra_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(handlers.REGISTRY, "tests/later", later)
    monkeypatch.setitem(handlers.REGISTRY, "tests/outside", outside)


@dataclass
class MixedChunk:
    """Eight dead letters replayed in one chunk, one per kind of outcome, and what followed."""

    dl: dict[str, DeadLetter]
    records: list[ReplayRecord]

    def row(self, name: str) -> DeadLetter:
        return DeadLetter.objects.get(pk=self.dl[name].pk)

    def event(self, name: str) -> WebhookEvent:
        return WebhookEvent.objects.get(pk=self.dl[name].event_id)

    def record(self, name: str) -> ReplayRecord:
        return self.records[list(self.dl).index(name)]


@pytest.fixture
def mixed_chunk(calls_table, flaky_handler, settings, extra_topics) -> MixedChunk:
    settings.DEADLETTER_REPLAY_CHUNK = 100
    good, bad, resolved_meanwhile, done_meanwhile, in_flight = make_dead_letters(5)
    scopes = dead_letter_for("app/scopes_update", {"current": ["read_orders", "write_products"]})
    no_handler = dead_letter_for("tests/nobody-handles-this", {"id": 1})
    deferred = dead_letter_for("tests/later", {"id": 2})
    resolved_meanwhile.resolve(None, "fixed by hand in the shop")
    WebhookEvent.objects.filter(pk=done_meanwhile.event_id).update(status="processed")
    WebhookEvent.objects.filter(pk=in_flight.event_id).update(
        status="processing", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    flaky_handler.fail = False
    flaky_handler.count_in_table = True
    flaky_handler.fail_orders = {bad.event.payload["id"]}
    flaky_handler.message = "still refused {order}"
    dl = {
        "good": good, "bad": bad, "scopes": scopes, "no_handler": no_handler, "deferred": deferred,
        "resolved_meanwhile": resolved_meanwhile, "done_meanwhile": done_meanwhile, "in_flight": in_flight,
    }
    records = replay.replay_many([d.pk for d in dl.values()], None, source="command")
    return MixedChunk(dl, records)


def test_it_gives_each_item_of_a_mixed_chunk_its_own_outcome(mixed_chunk):
    dl, records = mixed_chunk.dl, mixed_chunk.records
    assert [(r.dead_letter_id, r.outcome) for r in records] == [
        (dl["good"].pk, "ok"), (dl["bad"].pk, "failed"), (dl["scopes"].pk, "ok"), (dl["no_handler"].pk, "ignored"),
        (dl["deferred"].pk, "deferred"), (dl["resolved_meanwhile"].pk, "skipped"), (dl["done_meanwhile"].pk, "ok"),
        (dl["in_flight"].pk, "skipped"),
    ]
    assert all(r.pk is not None and r.source == "command" for r in records)
    assert EventAttempt.objects.filter(event_id__in=[d.event_id for d in dl.values()], trigger="command").count() == 5


def test_it_commits_a_successful_item_of_a_mixed_chunk(mixed_chunk):
    # The failure rolled back its own handler's work only; the others' committed.
    assert committed_runs() == {mixed_chunk.dl["good"].event_id: 1}
    good = mixed_chunk.row("good")
    assert (good.status, good.replay_count, good.note) == ("resolved", 1, "resolved by replay")
    assert mixed_chunk.event("good").status == "processed"


def test_it_runs_a_built_in_handler_in_a_mixed_chunk(mixed_chunk):
    shop = Shop.objects.get(domain="mixed-shop.myshopify.com")
    assert shop.scopes == "read_orders,write_products"
    assert mixed_chunk.event("scopes").status == "processed" and mixed_chunk.event("scopes").shop_id == shop.pk


def test_it_reopens_a_failed_item_of_a_mixed_chunk_with_its_new_error(mixed_chunk):
    bad = mixed_chunk.dl["bad"]
    failed = mixed_chunk.row("bad")
    assert (failed.status, failed.replay_count) == ("open", 1)
    assert failed.error_message == f"still refused {bad.event.payload['id']}"
    assert failed.last_replay_error == f"RuntimeError: still refused {bad.event.payload['id']}"
    assert failed.fingerprint == fingerprint("RuntimeError", failed.error_message, "tests/flaky") != bad.fingerprint
    assert [a["trigger"] for a in failed.attempts] == ["worker", "command"]
    event = mixed_chunk.event("bad")
    assert event.status == "dead" and event.attempts == 2
    assert "Traceback" in mixed_chunk.record("bad").error


def test_it_resolves_an_item_without_a_handler_as_ignored(mixed_chunk):
    assert mixed_chunk.row("no_handler").status == "resolved" and mixed_chunk.event("no_handler").status == "ignored"


def test_it_reopens_a_deferred_item_and_leaves_its_event_dead(mixed_chunk):
    deferred = mixed_chunk.row("deferred")
    assert (deferred.status, deferred.error_class, mixed_chunk.event("deferred").status) == (
        "open", "RetryLater", "dead")


def test_it_skips_an_item_closed_by_hand_meanwhile(mixed_chunk):
    row = mixed_chunk.row("resolved_meanwhile")
    assert (row.status, row.note) == ("resolved", "fixed by hand in the shop")
    assert mixed_chunk.record("resolved_meanwhile").error == replay.NOT_OPEN


def test_it_resolves_an_item_whose_event_was_processed_meanwhile_without_running_it(mixed_chunk):
    row = mixed_chunk.row("done_meanwhile")
    assert row.status == "resolved" and mixed_chunk.record("done_meanwhile").summary == "the event was already processed"
    assert row.note == "event already processed"


def test_it_skips_an_item_whose_event_is_processing_and_does_not_count_it(mixed_chunk):
    row = mixed_chunk.row("in_flight")
    assert (row.status, row.replay_count) == ("open", 0)
    assert mixed_chunk.record("in_flight").error == "the event is processing, not dead"


@pytest.mark.django_db
def test_it_writes_a_record_and_an_admin_log_entry_per_item(flaky_handler, settings):
    settings.DEADLETTER_REPLAY_CHUNK = 2
    user = User.objects.create_user("support-sam")
    ok_one, ok_two, failing = make_dead_letters(3)
    flaky_handler.fail = False
    flaky_handler.fail_orders = {failing.event.payload["id"]}
    replay.replay_many(sorted([ok_one.pk, ok_two.pk, failing.pk]), user, log="Replayed")
    for dead_letter, outcome in ((ok_one, "ok"), (ok_two, "ok"), (failing, "failed")):
        (record,) = ReplayRecord.objects.filter(dead_letter=dead_letter)
        assert (record.outcome, record.actor, record.source, record.dry_run) == (outcome, user, "admin", False)
        assert record.duration_ms > 0
        (entry,) = LogEntry.objects.filter(object_id=str(dead_letter.pk))
        assert entry.user == user and entry.is_change()
    assert LogEntry.objects.get(object_id=str(ok_one.pk)).change_message == "Replayed: Succeeded."
    assert LogEntry.objects.get(object_id=str(failing.pk)).change_message == (
        "Replayed: Failed. RuntimeError; the error is on the dead letter.")
    assert str(ok_one.pk) in LogEntry.objects.get(object_id=str(ok_one.pk)).object_repr


@pytest.mark.django_db
def test_it_writes_no_log_entry_without_a_user(flaky_handler):
    (dead_letter,) = make_dead_letters()
    flaky_handler.fail = False
    replay.replay_many([dead_letter.pk], None, source="command", log="Replayed")
    assert not LogEntry.objects.exists()
    assert ReplayRecord.objects.get(dead_letter=dead_letter).actor is None


def test_it_gives_the_claims_back_when_a_chunk_crashes_outside_its_handlers(calls_table, flaky_handler):
    dead_letters = make_dead_letters(3)
    ids = [d.pk for d in dead_letters]
    flaky_handler.fail = False
    flaky_handler.count_in_table = True
    # The handlers run; then the database refuses the attempt rows (a full disk, say).
    with database_refuses(EventAttempt._meta.db_table, "INSERT", "could not write the attempt rows"):
        records = replay.replay_many(ids, None)
    assert [r.outcome for r in records] == ["failed"] * 3
    assert all(r.pk is not None and "could not write the attempt rows" in r.error for r in records)
    # Nothing of the work survived, and nothing is left claimed.
    assert committed_runs() == {}
    for dead_letter in DeadLetter.objects.filter(pk__in=ids):
        assert (dead_letter.status, dead_letter.replay_lease_expires_at, dead_letter.replay_count) == ("open", None, 1)
        error_class, _, message = dead_letter.last_replay_error.partition(": ")
        assert issubclass(getattr(db_utils, error_class), db_utils.DatabaseError)  # which one: the vendor's choice
        assert message.startswith("could not write the attempt rows")
    assert set(WebhookEvent.objects.filter(pk__in=[d.event_id for d in dead_letters]).values_list("status", "lease_expires_at")) == {
        ("dead", None)}
    # And the next replay does the work, once.
    assert [r.outcome for r in replay.replay_many(ids, None)] == ["ok"] * 3
    assert committed_runs() == {d.event_id: 1 for d in dead_letters}


@pytest.mark.django_db
def test_it_takes_over_a_replay_that_died_with_its_claims(flaky_handler):
    """The replaying process was killed between its two transactions: both leases lapse,
    the sweeper would hand the event to a worker, and a new replay takes both over."""
    (dead_letter,) = make_dead_letters()
    past = timezone.now() - timedelta(seconds=1)
    DeadLetter.objects.filter(pk=dead_letter.pk).update(status="replaying", replay_lease_expires_at=past)
    WebhookEvent.objects.filter(pk=dead_letter.event_id).update(status="processing", lease_expires_at=past)
    assert list(processing.to_sweep().values_list("pk", flat=True)) == [dead_letter.event_id]
    flaky_handler.fail = False
    (record,) = replay.replay_many([dead_letter.pk], None)
    assert record.outcome == "ok"
    assert DeadLetter.objects.get(pk=dead_letter.pk).status == "resolved"
    assert WebhookEvent.objects.get(pk=dead_letter.event_id).status == "processed"


@pytest.mark.django_db
def test_it_replays_a_handler_that_works_outside_the_database_in_a_part_of_its_own(flaky_handler, settings, extra_topics):
    settings.DEADLETTER_REPLAY_CHUNK = 100
    first, second, last = make_dead_letters(3)
    posted = dead_letter_for("tests/outside", {"id": 3})
    ids = [first.pk, second.pk, posted.pk, last.pk]
    assert replay._parts(ids) == [[first.pk, second.pk], [posted.pk], [last.pk]]
    flaky_handler.fail = False
    assert [r.outcome for r in replay.replay_many(ids, None)] == ["ok"] * 4
    assert ReplayRecord.objects.get(dead_letter=posted).summary == "posted somewhere"


def test_it_commits_twice_per_chunk_whatever_its_size(transactional_db, flaky_handler, settings):
    """The claim and the work: two commits per chunk, not a handful per dead letter."""
    dead_letters = make_dead_letters(10)
    settings.DEADLETTER_REPLAY_CHUNK = 5
    flaky_handler.fail = False
    commits: list[int] = []
    writes: list[tuple[str, bool]] = []  # (statement, run in autocommit)
    original = connection.commit

    def counted_commit() -> None:
        commits.append(1)
        original()

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        writes.append((sql, connection.get_autocommit()))
        return execute(sql, params, many, context)

    connection.commit = counted_commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(counted):
            records = replay.replay_many([d.pk for d in dead_letters], None)
    finally:
        del connection.commit
    assert [r.outcome for r in records] == ["ok"] * 10
    assert len(commits) == 4
    # No statement commits on its own (autocommit): everything is inside those four.
    assert [sql for sql, autocommit in writes if autocommit and sql.lstrip().upper().startswith(
        ("INSERT", "UPDATE", "DELETE"))] == []
    # Statements in all: per dead letter its shop, a savepoint, the event's UPDATE and the
    # release (this handler writes nothing); per chunk about a dozen, whatever its size.
    assert len(writes) <= 10 * 4 + 2 * 15


@pytest.mark.django_db
def test_it_writes_the_outcomes_of_a_chunk_with_one_update(flaky_handler, settings):
    """Events of different shops: each handler in its savepoint, then one UPDATE records
    every success (processed, attempt number, times, shop linked) and one INSERT the attempts."""
    settings.DEADLETTER_REPLAY_CHUNK = 100
    letters = [dead_letter_for(factories.TOPIC, {"id": n}, shop=f"shop-{n}.myshopify.com") for n in range(6)]
    flaky_handler.fail = False
    statements: list[str] = []

    def noted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql.lstrip())
        return execute(sql, params, many, context)

    before = timezone.now()
    with connection.execute_wrapper(noted):
        records = replay.replay_many([d.pk for d in letters], None)
    assert [r.outcome for r in records] == ["ok"] * 6
    # The claim, then the outcomes: two UPDATEs of events for the chunk, none per item.
    assert len([sql for sql in statements if sql.startswith('UPDATE "webhooks_webhookevent"')]) == 2
    assert len([sql for sql in statements if sql.startswith('INSERT INTO "webhooks_eventattempt"')]) == 1
    for letter in letters:
        event = WebhookEvent.objects.select_related("shop").get(pk=letter.event_id)
        assert (event.status, event.attempts, event.lease_expires_at, event.last_error) == ("processed", 6, None, "")
        assert event.processed_at is not None and event.processed_at >= before and event.processing_ms is not None
        assert event.shop is not None and event.shop.domain == letter.shop_domain
        (attempt,) = EventAttempt.objects.filter(event=event)
        assert (attempt.number, attempt.outcome, attempt.trigger) == (6, "ok", "replay")


@pytest.mark.django_db
def test_a_handler_sees_the_earlier_events_of_its_shop_processed(flaky_handler, settings, monkeypatch):
    """Outcomes wait for the end of the chunk, but not past a handler of the same shop:
    it sees the shop's earlier events processed, as if they had been replayed one by one."""
    settings.DEADLETTER_REPLAY_CHUNK = 100
    seen: dict[int, dict[int, str]] = {}

    def peek(ctx: handlers.HandlerContext) -> str:
        rows = WebhookEvent.objects.filter(shop_domain=ctx.event.shop_domain).values_list("pk", "status")
        seen[ctx.event.pk] = dict(rows)
        return "looked"

    monkeypatch.setitem(handlers.REGISTRY, "tests/peek", peek)
    first = dead_letter_for("tests/peek", {"id": 1}, shop="a.myshopify.com")
    other = dead_letter_for("tests/peek", {"id": 2}, shop="b.myshopify.com")
    second = dead_letter_for("tests/peek", {"id": 3}, shop="a.myshopify.com")
    records = replay.replay_many([first.pk, other.pk, second.pk], None)
    assert [r.outcome for r in records] == ["ok"] * 3
    assert seen[second.event_id] == {first.event_id: "processed", second.event_id: "processing"}
    assert seen[other.event_id] == {other.event_id: "processing"}


@pytest.mark.django_db
def test_it_runs_no_handler_for_an_event_whose_claim_lapsed_before_the_work(flaky_handler, settings, monkeypatch):
    """Between the claim and the work the events' rows are locked under the claim; one
    taken over meanwhile (its lease lapsed) is not run, and its dead letter is not done."""
    settings.DEADLETTER_REPLAY_CHUNK = 100
    kept, lost = make_dead_letters(2)
    flaky_handler.fail, flaky_handler.calls = False, 0
    claim_many = processing.claim_many

    def taken_over_meanwhile(event_ids: Any, **kwargs: Any) -> Any:
        lease, events = claim_many(event_ids, **kwargs)
        WebhookEvent.objects.filter(pk=lost.event_id).update(lease_expires_at=lease + timedelta(seconds=1))
        return lease, events

    monkeypatch.setattr(processing, "claim_many", taken_over_meanwhile)
    records = replay.replay_many([kept.pk, lost.pk], None)
    assert [r.outcome for r in records] == ["ok", "skipped"] and flaky_handler.calls == 1
    assert DeadLetter.objects.get(pk=lost.pk).status == "open"
    assert WebhookEvent.objects.get(pk=lost.event_id).status == "processing"  # the other claimant's
