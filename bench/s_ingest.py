"""Ingest: the console behind gunicorn against a one-INSERT WSGI baseline on the same gunicorn.

Per round, for the baseline and then each console variant: start gunicorn, warm it up, run
the load generator at saturation, then at a fixed 100 req/s, read the web workers' RSS,
stop it. Rounds alternate the servers so drift on a shared machine hits both alike; the
throughput ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import statistics
import uuid
from typing import Any

from bench import wrk
from bench.baseline_app import SCRATCH_TABLE
from bench.common import (
    SHOPIFY_SECRET,
    Options,
    Results,
    child_env,
    execute,
    gunicorn,
    postgres_server_pid,
    process_tree,
    reset_event_tables,
    rss_kb,
    run_loadgen,
    say,
    tree_cpu_seconds,
)

NAME = "ingest"
FIXED_RATE = 100.0


def _variants(opts: Options) -> list[tuple[str, str, dict[str, str]]]:
    variants = [
        ("baseline", "bench.baseline_app:app", child_env(opts, BENCH_BASELINE_DSN=opts.database_url)),
        ("console", "timedify_ops.wsgi:application", child_env(opts)),
    ]
    if opts.redis_url:
        variants.append(("console+redis", "timedify_ops.wsgi:application", child_env(opts, REDIS_URL=opts.redis_url)))
    return variants


def web_worker_rss(master_pid: int) -> list[int]:
    return [kb for pid in process_tree(master_pid)[1:] if (kb := rss_kb(pid)) is not None]


def run(opts: Options, results: Results) -> None:
    execute(f"CREATE TABLE IF NOT EXISTS {SCRATCH_TABLE} (id bigserial PRIMARY KEY, body bytea NOT NULL)")
    execute(f"TRUNCATE {SCRATCH_TABLE}")
    reset_event_tables()
    concurrency = 4 * opts.web_workers
    runs: dict[str, list[dict[str, Any]]] = {}
    rss: dict[str, list[int]] = {}
    pg_pid = postgres_server_pid()
    wrk_binary = wrk.available()
    if not wrk_binary:
        say("  wrk is missing and could not be installed: the saturation phase uses the Python loader")
    for round_no in range(1, opts.rounds + 1):
        for label, app, env in _variants(opts):
            tag = f"{label}-{round_no}-{uuid.uuid4().hex[:6]}"
            with gunicorn(opts, app, env=env, label=f"round {round_no}, {label}") as (port, proc):
                run_loadgen(port, mode="rate", prefix=f"warm-{tag}", duration=1.0, rate=50)
                rss_before = web_worker_rss(proc.pid)
                cpu_before = (tree_cpu_seconds(proc.pid), tree_cpu_seconds(pg_pid) if pg_pid else None)
                if wrk_binary:
                    sat = wrk.saturate(wrk_binary, port, secret=SHOPIFY_SECRET, prefix=f"sat-{tag}",
                                       duration=opts.seconds, connections=concurrency)
                else:
                    sat = run_loadgen(port, mode="saturate", prefix=f"sat-{tag}", duration=opts.seconds, concurrency=concurrency)
                sat["web_cpu_s"] = tree_cpu_seconds(proc.pid) - cpu_before[0]
                sat["pg_cpu_s"] = tree_cpu_seconds(pg_pid) - cpu_before[1] if pg_pid and cpu_before[1] is not None else None
                fixed = run_loadgen(port, mode="rate", prefix=f"fix-{tag}", duration=opts.seconds, rate=FIXED_RATE)
                rss_after = web_worker_rss(proc.pid)
            say(
                f"    saturation {sat['throughput_rps']} req/s (p99 {sat['p99_ms']} ms, statuses {sat['statuses']}); "
                f"at {FIXED_RATE:.0f} req/s p50 {fixed['p50_ms']} p95 {fixed['p95_ms']} p99 {fixed['p99_ms']} ms"
            )
            runs.setdefault(label, []).append({"saturate": sat, "fixed": fixed, "rss_before_kb": rss_before, "rss_after_kb": rss_after})
            if label.startswith("console"):
                rss.setdefault(label, []).extend(rss_after)
    results.raw[NAME] = runs
    loader = "wrk (1 thread)" if wrk_binary else "the Python loader"
    how_sat = (f"{loader} closed loop, {concurrency} connections, {opts.seconds:g}s after 1s warm-up, "
               f"{opts.web_workers} gunicorn sync workers each; median of {opts.rounds} alternating round(s)")
    how_fix = f"loadgen open loop at {FIXED_RATE:.0f} req/s for {opts.seconds:g}s, latency from each request's due time; median over rounds"
    base = runs["baseline"]
    for label in [v[0] for v in _variants(opts)]:
        mine = runs[label]
        if label != "baseline":
            ratios = [m["saturate"]["throughput_rps"] / b["saturate"]["throughput_rps"]
                      for m, b in zip(mine, base, strict=True) if b["saturate"]["throughput_rps"]]
            ratio = statistics.median(ratios) if ratios else float("nan")
            results.add(NAME, f"{label} / baseline throughput at saturation", round(ratio, 2), "x",
                        target=">= 0.6", met=ratio >= 0.6, how=how_sat)
        # CPU per answered request during the saturation phase (warm-up included in neither
        # count): far steadier than throughput on a shared machine, and it says where the
        # time goes. PostgreSQL is the whole local server, background processes included.
        cpu = [(m["saturate"]["web_cpu_s"] + (m["saturate"]["pg_cpu_s"] or 0)) * 1000 / m["saturate"]["completed"]
               for m in mine if m["saturate"]["completed"]]
        pg_note = "gunicorn master and workers" + (" + the local PostgreSQL server" if pg_pid else " (PostgreSQL not local: not counted)")
        if cpu:
            results.add(NAME, f"{label} server CPU per request at saturation", round(statistics.median(cpu), 3), "ms",
                        how=f"{pg_note}, user + system time from /proc over the saturation phase / requests answered; median over rounds")
        if label != "baseline" and cpu:
            base_cpu = [(b["saturate"]["web_cpu_s"] + (b["saturate"]["pg_cpu_s"] or 0)) * 1000 / b["saturate"]["completed"]
                        for b in base if b["saturate"]["completed"]]
            if base_cpu:
                results.add(NAME, f"{label} / baseline server CPU per request", round(statistics.median(cpu) / statistics.median(base_cpu), 2), "x",
                            how="the two figures above, side by side in the same run")
        tput = statistics.median(m["saturate"]["throughput_rps"] for m in mine)
        results.add(NAME, f"{label} throughput at saturation", round(tput, 1), "req/s", how=how_sat)
        for pct in ("p50", "p95", "p99"):
            value = statistics.median(m["saturate"][f"{pct}_ms"] for m in mine)
            results.add(NAME, f"{label} {pct} at saturation", round(value, 2), "ms", how=how_sat)
        for pct in ("p50", "p95"):
            value = statistics.median(m["fixed"][f"{pct}_ms"] for m in mine)
            results.add(NAME, f"{label} {pct} at {FIXED_RATE:.0f} req/s", round(value, 2), "ms", how=how_fix)
        # The p99 target holds in every round, not in the median: the worst round is shown.
        worst = max(m["fixed"]["p99_ms"] for m in mine)
        each = ", ".join(f"{m['fixed']['p99_ms']:g}" for m in mine)
        target = "<= 10 in every round" if label != "baseline" else ""
        results.add(NAME, f"{label} p99 at {FIXED_RATE:.0f} req/s, worst round", round(worst, 2), "ms",
                    target=target, met=(worst <= 10) if target else None, how=f"{how_fix.replace('; median over rounds', '')}; rounds: {each} ms")
        non_2xx = sum(n for m in mine for part in ("saturate", "fixed") for s, n in m[part]["statuses"].items() if not s.startswith("2"))
        errors = sum(m[part]["errors"] for m in mine for part in ("saturate", "fixed"))
        results.add(NAME, f"{label} non-2xx answers / transport errors", f"{non_2xx} / {errors}", "",
                    target="0 / 0", met=non_2xx == 0 and errors == 0, how="counted by the load generator over all phases")
    for label, values in rss.items():
        results.add(NAME, f"{label} web worker RSS after load (max)", round(max(values) / 1024, 1), "MiB",
                    how="VmRSS from /proc/<pid>/status of every gunicorn worker after the fixed-rate phase")
