"""Set-based data generation: one INSERT ... SELECT FROM generate_series per table.

A million rows take seconds this way; the ORM row by row would take an hour. The shape
follows real traffic: 1,000 shops, a handful of topics, most events processed, a few
failed or dead, each with one attempt row, and payloads of about a kilobyte.
"""

from __future__ import annotations

from bench.common import NotAvailable, execute, scalar

TOPICS = ["orders/create", "orders/updated", "products/update", "app/scopes_update", "customers/create", "orders/paid"]
SHOPS = 1000


def require_postgresql() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        raise NotAvailable("PostgreSQL (the data generators use generate_series and jsonb)")


def generate_events(
    count: int, *, prefix: str, start: int = 0, min_age_days: float = 0.0, max_age_days: float = 14.0,
    status: str | None = None, topic: str | None = None, with_attempts: bool = True, shop: str | None = None,
) -> tuple[int, int]:
    """Insert `count` events with webhook ids `<prefix><n>` for n in [start, start+count).

    Ages spread evenly between min and max age (newest last). `status` None mixes 95 %
    processed, 3 % ignored, 1 % failed and 1 % dead. `shop` None spreads them over SHOPS
    shops. Returns the (first, last) event id.
    """
    require_postgresql()
    topics = "ARRAY[" + ",".join(f"'{t}'" for t in TOPICS) + "]"
    topic_sql = f"'{topic}'" if topic else f"({topics})[1 + (i %% {len(TOPICS)})]"
    status_sql = (
        f"'{status}'" if status
        else "CASE WHEN i %% 100 = 0 THEN 'dead' WHEN i %% 100 = 1 THEN 'failed' "
             "WHEN i %% 100 < 5 THEN 'ignored' ELSE 'processed' END"
    )
    span = max_age_days - min_age_days
    shop_sql = f"'{shop}'" if shop else f"'bench-shop-' || (i %% {SHOPS}) || '.myshopify.com'"
    first = scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM webhooks_webhookevent")
    # Only constants written by the bench itself are interpolated; the counts are parameters.
    execute(
        f"""
        INSERT INTO webhooks_webhookevent (
            provider, topic, shop_domain, webhook_id, event_id, api_version, triggered_at, received_at,
            headers, payload, status, attempts, last_error, ack_latency_ms, processing_ms, processed_at,
            last_enqueued_at, synthetic
        )
        SELECT 'shopify', {topic_sql}, {shop_sql}, %s::text || i, 'evt-' || i,
               '2025-10', r, r, '{{"Content-Type": "application/json", "X-Shopify-Hmac-Sha256": "[redacted]"}}'::jsonb,
               jsonb_build_object('id', i, 'email', 'customer' || i || '@example.com', 'current',
                   jsonb_build_array('read_orders', 'write_products'), 'total_price', '199.00',
                   'line_items', jsonb_build_array(jsonb_build_object('id', i, 'sku', 'SKU-1', 'quantity', 1)),
                   'note', repeat('x', 600)),
               s, CASE WHEN s = 'dead' THEN 5 WHEN s = 'received' THEN 0 ELSE 1 END,
               CASE WHEN s IN ('dead', 'failed') THEN 'RuntimeError: upstream said no to order ' || i ELSE '' END,
               2.5, CASE WHEN s = 'processed' THEN 4.0 END,
               CASE WHEN s <> 'received' THEN r + interval '150 milliseconds' END, r, false
        FROM (
            SELECT i, {status_sql} AS s,
                   now() - make_interval(secs => (%s::float8 - (i - %s)::float8 * %s::float8 / GREATEST(%s, 1)) * 86400) AS r
            FROM generate_series(%s::bigint, %s::bigint) AS i
        ) AS g
        """,  # noqa: S608
        (prefix, max_age_days, start, span, count, start, start + count - 1),
    )
    last = scalar("SELECT MAX(id) FROM webhooks_webhookevent")
    if with_attempts:
        execute(
            """
            INSERT INTO webhooks_eventattempt (event_id, number, trigger, started_at, duration_ms, outcome,
                                               error_class, error_message, traceback, summary)
            SELECT id, 1, 'worker', received_at, 4.0,
                   CASE status WHEN 'processed' THEN 'ok' WHEN 'ignored' THEN 'ignored' ELSE 'failed' END,
                   CASE WHEN status IN ('dead', 'failed') THEN 'RuntimeError' ELSE '' END,
                   last_error, '', ''
            FROM webhooks_webhookevent WHERE id BETWEEN %s AND %s
            """,
            (first, last),
        )
    return int(first), int(last or 0)


def generate_dead_letters(first_event: int, last_event: int, *, limit: int, status: str = "open") -> int:
    """One dead letter per dead event in the id range (up to `limit`); returns how many."""
    execute(
        """
        INSERT INTO deadletters_deadletter (event_id, provider, topic, shop_domain, error_class, error_message,
            traceback, fingerprint, attempts, status, replay_count, last_replay_error, note, created_at, updated_at)
        SELECT id, provider, topic, shop_domain, 'RuntimeError', last_error,
               'Traceback (most recent call last):\n  ...\nRuntimeError: upstream said no', md5(topic),
               '[]'::jsonb, %s, 0, '', '', COALESCE(processed_at, received_at), COALESCE(processed_at, received_at)
        FROM webhooks_webhookevent
        WHERE id BETWEEN %s AND %s AND status = 'dead'
        ORDER BY id LIMIT %s
        """,
        (status, first_event, last_event, limit),
    )
    return int(scalar("SELECT count(*) FROM deadletters_deadletter WHERE event_id BETWEEN %s AND %s", (first_event, last_event)))


def generate_subjects(first_event: int, last_event: int) -> None:
    """The subject index rows of the generated events, as the worker would write them: the
    order id and the order name (payload id) and the e-mail. (Written by SQL: indexing a
    million payloads through Python would take longer than the scenario.)"""
    execute(
        """
        INSERT INTO webhooks_eventsubject (event_id, kind, value, "primary")
        SELECT id, k.kind, CASE k.kind WHEN 'email' THEN payload->>'email' ELSE payload->>'id' END, k.kind = 'order_id'
        FROM webhooks_webhookevent, (VALUES ('order_id'), ('order_name'), ('email')) AS k(kind)
        WHERE id BETWEEN %s AND %s
        """,
        (first_event, last_event),
    )
    execute("UPDATE webhooks_webhookevent SET subjects_indexed_at = now() WHERE id BETWEEN %s AND %s",
            (first_event, last_event))


def analyze() -> None:
    execute("ANALYZE webhooks_eventsubject")
    execute("ANALYZE webhooks_webhookevent")
    execute("ANALYZE webhooks_eventattempt")
    execute("ANALYZE deadletters_deadletter")


def generate_job_runs(days: float) -> int:
    """`days` of the default schedules' runs, as the job runner records them: the sweeper
    every minute (one run in 50 found something), health and alerting every 5 minutes, the
    three daily jobs; the newest runs are now. Returns how many."""
    minutes = max(1, int(days * 1440))
    execute(
        """
        INSERT INTO timedify_ops_jobrun (task, trigger, started_at, finished_at, duration_ms, status, summary,
                                         details, traceback)
        SELECT j.task, 'schedule', t, t + interval '40 milliseconds', 40.0, 'ok',
               CASE j.task WHEN 'health_check' THEN 'all 9 checks passed' WHEN 'sweeper' THEN 'nothing to do'
                           ELSE j.task || ' finished' END,
               CASE j.task
                   WHEN 'sweeper' THEN jsonb_build_object('requeued', CASE WHEN m %% 50 = 0 THEN 1 ELSE 0 END,
                                                          'replay_batches_resumed', 0, 'subjects_indexed', 0)
                   WHEN 'health_check' THEN '{"status": "ok", "reasons": [], "backlog": [], "checks": {}}'::jsonb
                   WHEN 'alerting_check' THEN '{"level": 1, "findings": []}'::jsonb
                   ELSE '{"deleted": 0, "kept": 0}'::jsonb END,
               ''
        FROM generate_series(0, %s - 1) AS m,
             LATERAL (SELECT now() - make_interval(mins => m) AS t) AS at,
             (VALUES ('sweeper', 1), ('health_check', 5), ('alerting_check', 5), ('retention_cleanup', 1440),
                     ('deadletter_cleanup', 1440), ('prune_django_q', 1440)) AS j(task, every)
        WHERE m %% j.every = 0
        """,
        (minutes,),
    )
    return int(scalar("SELECT count(*) FROM timedify_ops_jobrun"))


def generate_replay_batches(count: int, first_dead_letter: int, days: float = 14.0) -> None:
    """`count` finished replay batches over `days`, of 1 to 10,000 dead letters each (the
    confirmed id list is stored on the batch), as support starts them; no per-item rows."""
    execute(
        """
        INSERT INTO deadletters_replaybatch (description, source, origin, origin_url, dead_letter_ids, rate, canary,
            include_superseded, total, done, ok, failed, skipped, superseded, status, requested, pause_reason,
            window_start, anchor_done, history, created_at, started_at, finished_at)
        SELECT 'Replay of dead letters matching a filter', 'bulk', 'filter', '/admin/deadletters/deadletter/?status=open',
               (SELECT jsonb_agg(%s + k) FROM generate_series(0, n - 1) AS k), NULL, 0, false,
               n, n, n - n / 10, n / 10, 0, 0, 'finished', '', '', 0, 0,
               jsonb_build_array(jsonb_build_object('at', t, 'who', 'support', 'what', 'started', 'why', '')),
               t, t, t + interval '1 minute'
        FROM generate_series(1, %s) AS i,
             LATERAL (SELECT (10 ^ (i %% 5))::int AS n,
                             now() - make_interval(secs => (%s::float8 * 86400) * (%s - i) / %s) AS t) AS g
        """,
        (first_dead_letter, count, days, count, count),
    )


def generate_breakers(destinations: int, topics: list[str]) -> None:
    """Forward destinations (one in ten open) and a topic breaker per topic."""
    common = "consecutive_failures, opened_at, last_failure_at, last_error, updated_at"
    execute(
        f"""
        INSERT INTO webhooks_forwarddestination (name, url, paused, state, {common})
        SELECT 'app-' || i, 'https://app-' || i || '.example.com/webhooks', false,
               CASE WHEN i %% 10 = 0 THEN 'open' ELSE 'closed' END, CASE WHEN i %% 10 = 0 THEN 5 ELSE 0 END,
               CASE WHEN i %% 10 = 0 THEN now() END, CASE WHEN i %% 10 = 0 THEN now() END,
               CASE WHEN i %% 10 = 0 THEN 'ConnectionError: refused' ELSE '' END, now()
        FROM generate_series(1, %s) AS i
        """,  # noqa: S608 - fixed column names
        (destinations,),
    )
    execute(
        f"""
        INSERT INTO webhooks_topicbreaker (topic, paused, state, {common})
        SELECT t, false, 'closed', 0, NULL, now(), 'RuntimeError: upstream said no', now() FROM unnest(%s::text[]) AS t
        """,  # noqa: S608 - fixed column names
        (topics,),
    )


def generate_shops(count: int) -> None:
    """The shops the events name (one in 20 uninstalled), for the pages that show a shop's state."""
    execute(
        """
        INSERT INTO webhooks_shop (domain, installed, installed_at, uninstalled_at, scopes, offline_token_ciphertext,
                                   created_at, updated_at)
        SELECT 'bench-shop-' || i || '.myshopify.com', i %% 20 <> 0, now() - interval '90 days',
               CASE WHEN i %% 20 = 0 THEN now() - interval '1 day' END, 'read_orders,write_products', '', now(), now()
        FROM generate_series(0, %s - 1) AS i
        """,
        (count,),
    )


ADMIN_TABLES = ("webhooks_webhookevent", "webhooks_eventsubject", "webhooks_eventattempt", "deadletters_deadletter",
                "timedify_ops_jobrun", "deadletters_replaybatch", "webhooks_shop")


def vacuum_analyze(tables: tuple[str, ...] = ADMIN_TABLES) -> None:
    """VACUUM ANALYZE: the state autovacuum keeps a table in, visibility map included (so
    index-only scans need no heap visits), whether or not autovacuum runs on this server."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")  # fixed table names
