"""Privacy: one customers/redact in a shop of a million stored events, and what the subject
index costs each processed event.

Data (SQL, generate_series): `--privacy-events` events of ONE shop, with their attempt rows
and their subject-index rows (an order id and an e-mail each, as the worker writes for an
order), plus 200 orders of one customer (the target) with addresses, notes and a browser
IP, 10 of them dead with an error quoting the customer's e-mail. The 200 are indexed by
the real backfill. Timed: `privacy.redact_customer` in one transaction, as the handler
runs it. Then, on 2,000 realistic order payloads, the worker's indexing call
(`webhooks.indexer.index`) per event, with its statements.
"""

from __future__ import annotations

import time
from typing import Any

from bench import datagen
from bench.common import NotAvailable, Options, Results, execute, reset_event_tables, say, scalar

NAME = "privacy"
SHOP = "bench-privacy.myshopify.com"
MENTIONS = 200
CUSTOMER_ID = 990_000_001
EMAIL = "target.customer@example.com"
PHONE = "+16135550199"
INDEX_SAMPLE = 2_000


def check_interface() -> None:
    try:
        from webhooks.indexer import index  # noqa: F401
        from webhooks.privacy import redact_customer  # noqa: F401
    except ImportError as exc:
        raise NotAvailable(f"the subject index and structural redaction ({exc})") from exc


def reset() -> None:
    reset_event_tables()
    execute("TRUNCATE webhooks_eventsubject, webhooks_compliancerequest, webhooks_customerdataexport RESTART IDENTITY")


def order_sql(where: str, customer_id: str, email: str, phone: str) -> str:
    """A jsonb order (about 1.5 kB) of one customer, built in SQL from `i`."""
    address = (f"jsonb_build_object('first_name', 'Ann', 'last_name', 'Target', 'name', 'Ann Target', "
               f"'address1', i || ' Winterfell Road', 'city', 'Ottawa', 'zip', 'K2P 1L4', 'province', 'Ontario', "
               f"'country', 'Canada', 'phone', {phone}, 'latitude', 45.4, 'longitude', -75.7)")
    return (
        f"jsonb_build_object('id', {where}, 'name', '#' || (1000 + i), 'email', {email}, 'phone', {phone}, "
        f"'note', 'leave at the door', 'total_price', '199.00', 'client_details', jsonb_build_object('browser_ip', '10.0.0.1'), "
        f"'customer', jsonb_build_object('id', {customer_id}, 'email', {email}, 'first_name', 'Ann', "
        f"'last_name', 'Target', 'phone', {phone}), 'billing_address', {address}, 'shipping_address', {address}, "
        f"'line_items', jsonb_build_array(jsonb_build_object('id', i, 'title', 'Ottawa Hoodie', 'vendor', 'Ontario Knits')))"
    )


def generate(opts: Options) -> tuple[int, int]:
    """The shop's background events with their index rows, then the target's orders."""
    reset()
    first, last = datagen.generate_events(opts.privacy_events - MENTIONS, prefix="bg-", shop=SHOP)
    # What the worker would have indexed for these: each payload's id (as an order) and e-mail.
    execute(
        """
        INSERT INTO webhooks_eventsubject (event_id, kind, value, "primary")
        SELECT id, 'order_id', payload->>'id', true FROM webhooks_webhookevent
        UNION ALL SELECT id, 'email', payload->>'email', false FROM webhooks_webhookevent
        """
    )
    execute("UPDATE webhooks_webhookevent SET subjects_indexed_at = received_at")
    payload = order_sql("800000000 + i", str(CUSTOMER_ID), f"'{EMAIL}'", f"'{PHONE}'")
    execute(
        f"""
        INSERT INTO webhooks_webhookevent (provider, topic, shop_domain, webhook_id, event_id, api_version,
            received_at, headers, payload, status, attempts, last_error, synthetic)
        SELECT 'shopify', 'orders/updated', %s, 'target-' || i, '', '2025-10', now(), '{{}}'::jsonb, {payload},
               CASE WHEN i <= 10 THEN 'dead' ELSE 'processed' END, 1,
               CASE WHEN i <= 10 THEN 'ForwardFailed: app refused order for customer {EMAIL}' ELSE '' END, false
        FROM generate_series(1, %s) AS i
        """,  # noqa: S608 - constants of the bench
        (SHOP, MENTIONS),
    )
    execute(
        """
        INSERT INTO webhooks_eventattempt (event_id, number, trigger, started_at, duration_ms, outcome, error_class,
                                           error_message, traceback, summary)
        SELECT id, 1, 'worker', now(), 4.0, CASE WHEN status = 'dead' THEN 'failed' ELSE 'ok' END,
               CASE WHEN status = 'dead' THEN 'ForwardFailed' ELSE '' END, last_error, '', ''
        FROM webhooks_webhookevent WHERE webhook_id LIKE 'target-%%'
        """
    )
    target_first = int(scalar("SELECT min(id) FROM webhooks_webhookevent WHERE webhook_id LIKE 'target-%%'"))
    datagen.generate_dead_letters(target_first, target_first + MENTIONS, limit=10)
    from webhooks import indexer

    indexed = indexer.backfill(MENTIONS)
    execute("ANALYZE webhooks_eventsubject")
    datagen.analyze()
    return last - first + 1 + indexed, indexed


def index_cost() -> dict[str, Any]:
    """The worker's indexing call on realistic orders: ms and statements per event."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from webhooks import indexer
    from webhooks.models import WebhookEvent

    payload = order_sql("700000000 + i", "600000000 + i", "'c' || i || '@example.com'", "'+1613' || (5550000 + i)")
    execute(
        f"""
        INSERT INTO webhooks_webhookevent (provider, topic, shop_domain, webhook_id, event_id, api_version,
            received_at, headers, payload, status, attempts, last_error, synthetic)
        SELECT 'shopify', 'orders/updated', 'bench-index.myshopify.com', 'index-' || i, '', '2025-10', now(),
               '{{}}'::jsonb, {payload}, 'processing', 0, '', false
        FROM generate_series(1, %s) AS i
        """,  # noqa: S608 - constants of the bench
        (INDEX_SAMPLE,),
    )
    events = list(WebhookEvent.objects.filter(webhook_id__startswith="index-"))
    with CaptureQueriesContext(connection) as queries:
        t0 = time.perf_counter()
        rows = sum(indexer.index(event) for event in events)
        elapsed = time.perf_counter() - t0
    return {"ms_per_event": 1000 * elapsed / len(events), "statements_per_event": len(queries) / len(events),
            "rows_per_event": rows / len(events)}


def run(opts: Options, results: Results) -> None:
    check_interface()
    datagen.require_postgresql()
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from webhooks import privacy

    t0 = time.perf_counter()
    total, mentioning = generate(opts)
    say(f"    generated {total} events of one shop ({mentioning} mention the customer) in {time.perf_counter() - t0:.0f}s")
    who = privacy.Customer(customer_id=str(CUSTOMER_ID), email=EMAIL, phone=PHONE)
    with CaptureQueriesContext(connection) as queries:
        t0 = time.perf_counter()
        with transaction.atomic():
            done = privacy.redact_customer(SHOP, who)
        redact_s = time.perf_counter() - t0
    left = int(scalar("SELECT count(*) FROM webhooks_webhookevent WHERE payload::text LIKE %s", (f"%{EMAIL}%",)))
    say(f"    redaction: {done.evidence()} in {redact_s:.2f}s, {len(queries)} statements; {left} payloads still hold the e-mail")
    cost = index_cost()
    results.raw[NAME] = {"redact_s": redact_s, "statements": len(queries), "evidence": done.evidence(), "left": left,
                         "index": cost, "events": total}
    how = (f"privacy.redact_customer in one transaction; {total:,} events of one shop, {mentioning} mention the "
           f"customer; {done.events_scrubbed} payloads and {done.texts_scrubbed} texts scrubbed, {len(queries)} statements")
    results.add(NAME, "customers/redact at this size", round(redact_s, 2), "s", target="< 5", met=redact_s < 5, how=how)
    results.add(NAME, "payloads still holding the e-mail", left, "", target="0", met=left == 0, how="LIKE over every payload")
    results.add(NAME, "subject index, worker cost per processed event", round(cost["ms_per_event"], 2), "ms",
                how=f"webhooks.indexer.index on {INDEX_SAMPLE:,} orders of about 1.5 kB: "
                    f"{cost['statements_per_event']:.1f} statements and {cost['rows_per_event']:.1f} rows per event")
