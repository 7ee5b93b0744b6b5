"""Replay: bulk replay of open dead letters whose handler now succeeds.

The dead events are app/scopes_update deliveries with a valid payload (the built-in
handler succeeds on them now), generated with SQL together with one open dead letter each.
Baseline in the same run: the same handler called directly on the same events, with no
claim, no attempt row and no replay record. Overhead per item = (replay - direct) / items.
Needs `DeadLetter.replay(actor)` from the dead-letter replay work; the bulk path is the
queryset/bulk function when one exists, else the model method in a loop (what an admin
action does, per the house style).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

from bench import datagen
from bench.common import NotAvailable, Options, Results, execute, reset_event_tables, say, scalar

NAME = "replay"
TOPIC = "app/scopes_update"
# Where a bulk replay entry point may live, tried in order: (module, attribute).
BULK_CANDIDATES = [
    ("deadletters.replay", "bulk_replay"),
    ("deadletters.replay", "replay_many"),
    ("deadletters.bulk", "bulk_replay"),
    ("deadletters.bulk", "run_bulk_replay"),
]


def bulk_path() -> tuple[str, Callable[[Any, Any], Any]]:
    from deadletters.models import DeadLetter

    if not callable(getattr(DeadLetter, "replay", None)):
        raise NotAvailable("DeadLetter.replay(actor) (dead-letter replay)")
    queryset = DeadLetter.objects.all()
    for method in ("replay", "bulk_replay"):
        if callable(getattr(queryset, method, None)):
            return f"DeadLetterQuerySet.{method}(actor)", lambda qs, actor, m=method: getattr(qs, m)(actor)
    for module_name, attr in BULK_CANDIDATES:
        try:
            func = getattr(importlib.import_module(module_name), attr, None)
        except ImportError:
            continue
        if callable(func):
            return f"{module_name}.{attr}(queryset, actor)", func

    def loop(qs: Any, actor: Any) -> None:
        for dead_letter in qs.iterator(chunk_size=500):
            dead_letter.replay(actor)

    return "DeadLetter.replay(actor) for each item (the admin action's loop)", loop


def direct(first: int, last: int) -> float:
    """The handler alone on every event, each in its own transaction like a real attempt."""
    from django.db import transaction

    from webhooks import handlers
    from webhooks.models import Shop, WebhookEvent

    shops = {shop.domain: shop for shop in Shop.objects.all()}
    t0 = time.perf_counter()
    for event in WebhookEvent.objects.filter(id__gte=first, id__lte=last).iterator(chunk_size=500):
        func = handlers.resolve(event)
        assert func is not None
        shop = shops.get(event.shop_domain) or Shop.objects.get_or_create(domain=event.shop_domain)[0]
        shops[shop.domain] = shop
        with transaction.atomic():
            func(handlers.HandlerContext(event=event, shop=shop, attempt=event.attempts + 1))
    return time.perf_counter() - t0


def run(opts: Options, results: Results) -> None:
    from django.contrib.auth import get_user_model

    from deadletters.models import DeadLetter

    label, bulk = bulk_path()
    reset_event_tables()
    items = opts.replay_items
    first, last = datagen.generate_events(items, prefix="replay-", status="dead", topic=TOPIC, max_age_days=1)
    made = datagen.generate_dead_letters(first, last, limit=items)
    datagen.analyze()
    actor, _ = get_user_model().objects.get_or_create(username="bench-replayer", defaults={"is_staff": True, "is_superuser": True})
    direct_s = direct(first, last)
    t0 = time.perf_counter()
    bulk(DeadLetter.objects.filter(status="open"), actor)
    # A bulk path that runs in the background: wait until nothing is left open or replaying.
    deadline = time.monotonic() + 600
    while scalar("SELECT count(*) FROM deadletters_deadletter WHERE status IN ('open', 'replaying')") and time.monotonic() < deadline:
        time.sleep(0.5)
    replay_s = time.perf_counter() - t0
    resolved = int(scalar("SELECT count(*) FROM deadletters_deadletter WHERE status = 'resolved'"))
    processed = int(scalar("SELECT count(*) FROM webhooks_webhookevent WHERE id BETWEEN %s AND %s AND status = 'processed'", (first, last)))
    say(f"    {made} dead letters through {label}: {resolved} resolved, {processed} events processed")
    results.raw[NAME] = {"path": label, "items": made, "direct_s": direct_s, "replay_s": replay_s, "resolved": resolved}
    how = f"{made} open dead letters of {TOPIC} (handler succeeds), bulk path: {label}"
    results.add(NAME, "bulk replay total time", round(replay_s, 2), "s", target="<= 30", met=replay_s <= 30, how=how)
    overhead = (replay_s - direct_s) / max(made, 1) * 1000
    results.add(NAME, "overhead per item over calling the handler directly", round(overhead, 2), "ms",
                how=f"(replay {replay_s:.2f}s - direct handler calls {direct_s:.2f}s) / {made}; ratio {replay_s / direct_s:.1f}x")
    results.add(NAME, "dead letters resolved", f"{resolved} of {made}", "", target=str(made), met=resolved == made, how=how)
    execute("ANALYZE deadletters_deadletter")
