"""Replays and dry runs: one attempt of a dead (or failed) event, on demand.

- `replay_claimed` runs exactly one attempt of each dead event a dead-letter replay
  claimed (`claims.claim_many`). Success marks it processed; failure puts it back to dead
  without announcing it again (the dead letter records the replay).
- `dry_run_event` runs the handler in a transaction that is always rolled back, and
  captures what it raised exactly as a real attempt does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from webhooks import handlers, logcontext
from webhooks.models import AttemptOutcome, EventStatus, Shop, WebhookEvent
from webhooks.processing.attempt import AttemptResult, Deferred, LostClaim, capture, ignore, run_attempt
from webhooks.processing.claims import lock_held


class _DryRunRollback(Exception):
    pass


def _back_to_dead(event: WebhookEvent, result: AttemptResult) -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=EventStatus.DEAD, lease_expires_at=None, processed_at=timezone.now()
    )
    event.status = EventStatus.DEAD


def _replay_one(
    event: WebhookEvent, func: handlers.HandlerFunc, lease: datetime, trigger: str, *,
    shops: dict[str, Shop] | None = None, defer: Deferred | None = None, destination: Any = None,
) -> AttemptResult | None:
    try:
        return run_attempt(event, func, lease, trigger, settle=_back_to_dead, shops=shops, defer=defer,
                           destination=destination)
    except LostClaim:
        return None


def replay_claimed(
    events: list[WebhookEvent], lease: datetime, *, trigger: str = "replay",
    then: Callable[[dict[int, AttemptResult | None]], None] | None = None, destination: Any = None,
) -> dict[int, AttemptResult | None]:
    """One attempt for each of these events, claimed with `lease`. Returns each event's result by pk, None where the claim was
    lost to someone else meanwhile.

    Handlers that work outside the database (non-atomic) run first, one by one, as for the
    worker. Then one transaction: the other events' rows are locked under the claim (one
    whose claim was lost meanwhile is not run); every handler runs in a savepoint of its
    own, so that a failure rolls back that handler's work only; the successes' statuses and
    every attempt row are written with one statement each (`Deferred`); and
    `then(results)`, the caller's own bookkeeping, commits together with them. A handler
    sees the earlier events of its shop processed, as before: their outcomes are written
    just before it runs. An exception outside a handler rolls the whole transaction back and
    propagates: the events stay claimed until the caller gives them back (`release`) or
    their lease lapses.
    `destination`: a ForwardDestination that forwarding handlers send to instead (a replay
    to another destination).
    """
    results: dict[int, AttemptResult | None] = {}
    # Routing depends on the provider and topic only: resolved once for each of them.
    by_topic: dict[tuple[str, str], handlers.HandlerFunc | None] = {}
    for event in events:
        if (event.provider, event.topic) not in by_topic:
            by_topic[event.provider, event.topic] = handlers.resolve(event)
    funcs = {event.pk: by_topic[event.provider, event.topic] for event in events}
    for event in events:
        func = funcs[event.pk]
        if func is not None and not handlers.is_atomic(func):
            with logcontext.scope(event_pk=event.pk, webhook_id=event.webhook_id):
                results[event.pk] = _replay_one(event, func, lease, trigger, destination=destination)
    with transaction.atomic():
        held = lock_held([e for e in events if e.pk not in results], lease)
        results.update({e.pk: None for e in events if e.pk not in results and e.pk not in held})
        domains = {e.shop_domain for e in events if e.pk not in results and e.provider == "shopify" and e.shop_domain}
        shops = {shop.domain: shop for shop in Shop.objects.filter(domain__in=domains)} if domains else {}
        defer = Deferred(lease)
        for event in events:
            if event.pk in results:
                continue
            func = funcs[event.pk]
            with logcontext.scope(event_pk=event.pk, webhook_id=event.webhook_id):
                if func is None:
                    results[event.pk] = AttemptResult(
                        outcome=AttemptOutcome.IGNORED, number=event.attempts, summary="no handler for this topic"
                    ) if ignore(event, trigger, lease) else None
                else:
                    defer.before(event)
                    results[event.pk] = _replay_one(
                        event, func, lease, trigger, shops=shops, defer=defer, destination=destination
                    )
        defer.flush()
        if then is not None:
            then(results)
    return results


def dry_run_event(event: WebhookEvent) -> AttemptResult:
    """What a replay would do, without changing anything: the handler runs in a
    transaction that is always rolled back, with ctx.dry_run set."""
    func = handlers.resolve(event)
    if func is None:
        return AttemptResult(outcome=AttemptOutcome.IGNORED, summary="no handler for this topic: it would be ignored")
    result = AttemptResult(outcome=AttemptOutcome.OK, number=event.attempts + 1)
    t0 = time.perf_counter()
    try:
        with transaction.atomic():
            shop = Shop.objects.filter(domain=event.shop_domain).first() if event.shop_domain else None
            result.summary = func(handlers.HandlerContext(event, shop, result.number, dry_run=True)) or ""
            raise _DryRunRollback
    except _DryRunRollback:
        pass
    except BaseException as exc:  # noqa: BLE001 - captured as a real attempt's would be, never re-raised:
        # a dry run is asked for in a web request: a handler's SystemExit must not end the server's worker.
        capture(result, exc)
    result.duration_ms = (time.perf_counter() - t0) * 1000
    return result
