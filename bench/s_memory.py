"""Memory: the RSS of a qcluster's processes while they work through many events.

Events are bulk-inserted with SQL, then handed to the cluster in slices of 500 (the ORM
queue stays short, as it does in production) while the harness reads VmRSS of every
process of the cluster from /proc every second. Recycling is switched off for the run
(Q_RECYCLE and Q_MAX_RSS_KB at the largest values their settings accept) so a leak shows instead of being hidden by a
fresh worker; production recycles every 500 tasks on top of this.
"""

from __future__ import annotations

import time

from bench import datagen
from bench.common import (
    Options,
    Results,
    child_env,
    process_tree,
    qcluster,
    reset_event_tables,
    rss_kb,
    say,
    scalar,
)

NAME = "memory"
SLICE = 500
WARMUP_FRACTION = 0.1


def run(opts: Options, results: Results) -> None:
    from django.conf import settings

    from webhooks.processing import enqueue

    reset_event_tables()
    count = opts.memory_events
    first, last = datagen.generate_events(count, prefix="mem-", status="received", topic="app/scopes_update",
                                          with_attempts=False, max_age_days=0.01)
    datagen.analyze()
    # The largest values the settings accept (timedify_ops/settings.py): far above what a run reaches.
    env = child_env(opts, Q_RECYCLE=str(1_000_000), Q_MAX_RSS_KB=str(64_000_000))
    samples: dict[int, list[tuple[int, int]]] = {}  # pid -> [(processed, rss_kb)]
    next_id, started = first, time.monotonic()
    timeout = max(120.0, count / 20)  # at least 20 events/s or give up
    with qcluster(env) as cluster:
        time.sleep(3)
        while True:
            done = int(scalar("SELECT count(*) FROM webhooks_webhookevent WHERE id BETWEEN %s AND %s AND processed_at IS NOT NULL", (first, last)))
            waiting = int(scalar("SELECT count(*) FROM webhooks_webhookevent WHERE id BETWEEN %s AND %s AND status = 'received'", (first, last)))
            if next_id <= last and waiting - (last - next_id + 1) < SLICE:
                upto = min(last, next_id + SLICE - 1)
                for event_id in range(next_id, upto + 1):
                    enqueue(event_id)
                next_id = upto + 1
            for pid in process_tree(cluster.pid)[1:]:
                if (kb := rss_kb(pid)) is not None:
                    samples.setdefault(pid, []).append((done, kb))
            if done >= count or time.monotonic() - started > timeout:
                break
            time.sleep(1.0)
    elapsed = time.monotonic() - started
    warm = int(count * WARMUP_FRACTION)
    growths: list[tuple[float, int, int, int]] = []
    for pid, series in samples.items():
        after_warmup = [kb for processed, kb in series if processed >= warm]
        if len(after_warmup) >= 2 and series[0][0] <= warm:  # lived through the whole measured part
            growths.append(((after_warmup[-1] - after_warmup[0]) / after_warmup[0] * 100, pid, after_warmup[0], after_warmup[-1]))
    results.raw[NAME] = {"samples": {str(pid): s for pid, s in samples.items()}, "elapsed_s": elapsed, "processed": done}
    say(f"    {done}/{count} events processed in {elapsed:.0f}s ({done / elapsed:.0f}/s) by {len(samples)} cluster processes")
    how = (f"{count} app/scopes_update events, qcluster (ORM broker, recycling off); VmRSS of every cluster process "
           f"each second; growth from {WARMUP_FRACTION:.0%} of the events (warm-up) to the end")
    if not growths:
        results.add(NAME, "worker RSS growth", "no process lived through the run", how=how)
        return
    worst = max(growths)
    results.add(NAME, "cluster process RSS growth after warm-up (worst process)", round(worst[0], 1), "%",
                target="< 10", met=worst[0] < 10, how=how + f"; pid {worst[1]}: {worst[2]} -> {worst[3]} kB")
    largest = max(kb for series in samples.values() for _, kb in series)
    results.add(NAME, "largest cluster process RSS", round(largest / 1024, 1), "MiB", how="max VmRSS seen")
    results.add(NAME, "events processed", f"{done} of {count}", "", target=str(count), met=done >= count,
                how=f"{elapsed:.0f}s, {done / elapsed:.0f} events/s with {settings.Q_CLUSTER['workers']} workers")
