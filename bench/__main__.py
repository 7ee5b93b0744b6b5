"""`python -m bench`: run the benchmarks, write bench/results.json and bench/RESULTS.md.

Exit codes: 0 the run finished (targets missed or not is in the table, never in the exit
code: timing on a shared machine must not fail a build), 1 a scenario crashed,
2 the database is not usable (SQLite without --allow-sqlite, unreachable).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime

from bench.common import ROOT, Figure, NotAvailable, Options, Results, say

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/timedify_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
SCENARIOS = {
    "ingest": "bench.s_ingest",
    "processing": "bench.s_processing",
    "flood": "bench.s_flood",
    "memory": "bench.s_memory",
    "replay": "bench.s_replay",
    "retention": "bench.s_retention",
    "admin": "bench.s_admin",
    "privacy": "bench.s_privacy",
    "redrive": "bench.s_redrive",
}


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Timedify Ops Console benchmarks.")
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds per scenario: keeps the harness working")
    parser.add_argument("--allow-sqlite", action="store_true", help="run on SQLite anyway (figures mean little)")
    parser.add_argument("--force", action="store_true", help="use a database that has events the bench did not make")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis variants")
    parser.add_argument("--seconds", type=float, help="length of each ingest load phase (default 10)")
    parser.add_argument("--rounds", type=int, help="alternating baseline/console rounds for ingest (default 3)")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn sync workers for both ingest servers")
    parser.add_argument("--processing-seconds", type=float, help="load phase of the processing scenario (default 300)")
    parser.add_argument("--processing-rate", type=float, default=100.0)
    parser.add_argument("--memory-events", type=int, help="events the worker processes (default 100000)")
    parser.add_argument("--replay-items", type=int, help="open dead letters to replay (default 10000)")
    parser.add_argument("--retention-events", type=int, help="expired events (default 1000000)")
    parser.add_argument("--admin-events", type=int, help="events behind the admin (default 1000000)")
    parser.add_argument("--admin-profile", default="", metavar="DIR",
                        help="profile each admin page's requests (cProfile): top entries printed, .prof files in DIR")
    parser.add_argument("--privacy-events", type=int, help="events of the shop a customer is redacted from (default 1000000)")
    parser.add_argument("--redrive-items", type=int, help="dead letters of the paced batch (default 2000)")
    parser.add_argument("--redrive-rate", type=float, default=50.0, help="the paced batch's rate, items per second")
    parser.add_argument("--redrive-pauses", type=int, help="clicks on pause measured (default 20)")
    parser.add_argument("--update", action="store_true",
                        help="keep the other scenarios of the existing results.json (each shown with its own run)")
    parser.add_argument("--output", help="where results.json and RESULTS.md go (default bench/, smoke: var/bench-smoke/)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    # A smoke run must not overwrite the committed table of a real run.
    args.output = args.output or str(ROOT / ("var/bench-smoke" if args.smoke else "bench"))
    smoke = args.smoke

    def pick(value: float | int | None, full: float | int, tiny: float | int) -> float | int:
        return value if value is not None else (tiny if smoke else full)

    redis_url = "" if args.no_redis else redis_if_reachable(os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    admin_events = int(pick(args.admin_events, 1_000_000, 2_000))
    retention_events = int(pick(args.retention_events, 1_000_000, 2_000))
    opts = Options(
        database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        redis_url=redis_url,
        smoke=smoke,
        web_workers=args.web_workers,
        seconds=float(pick(args.seconds, 10, 1.5)),
        processing_seconds=float(pick(args.processing_seconds, 300, 3)),
        processing_rate=args.processing_rate if not smoke else 20.0,
        memory_events=int(pick(args.memory_events, 100_000, 300)),
        replay_items=int(pick(args.replay_items, 10_000, 30)),
        retention_events=retention_events,
        retention_pinned=max(1, retention_events // 100),
        admin_events=admin_events,
        admin_deadletters=max(1, admin_events // 10),
        admin_requests=5 if smoke else 50,
        privacy_events=max(400, int(pick(args.privacy_events, 1_000_000, 2_000))),
        rounds=int(pick(args.rounds, 3, 1)),
        redrive_items=int(pick(args.redrive_items, 2000, 60)),
        redrive_rate=args.redrive_rate,
        redrive_pauses=int(pick(args.redrive_pauses, 20, 3)),
        admin_profile=args.admin_profile,
    )
    return args, opts


def redis_if_reachable(url: str) -> str:
    """The Redis URL, or "" (with a note) when nothing answers there: its variants are skipped."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        say(f"Redis at {url.split('@')[-1]} does not answer ({exc}): the Redis variants are skipped.")
        return ""
    finally:
        client.close()
    return url


def setup_django(opts: Options, allow_sqlite: bool, force: bool = False) -> None:
    os.environ["DATABASE_URL"] = opts.database_url
    os.environ.pop("REDIS_URL", None)  # the harness itself uses the ORM broker; variants set their own
    os.environ.update(DEBUG="0", DJANGO_SETTINGS_MODULE="timedify_ops.settings", LOG_LEVEL="WARNING")
    from bench.common import BENCH_QUEUE, SECRET_KEY, SHOPIFY_SECRET, TOKEN_ENCRYPTION_KEY

    os.environ.update(SECRET_KEY=SECRET_KEY, TOKEN_ENCRYPTION_KEY=TOKEN_ENCRYPTION_KEY, SHOPIFY_API_SECRET=SHOPIFY_SECRET, Q_CLUSTER_NAME=BENCH_QUEUE, Q_LOG_LEVEL="WARNING")
    if not opts.database_url.startswith(("postgres://", "postgresql://")):
        if not allow_sqlite:
            say(f"Refusing to benchmark {opts.database_url.split(':')[0]}: the figures only mean something on "
                "PostgreSQL. Set DATABASE_URL=postgres://... or pass --allow-sqlite.")
            raise SystemExit(2)
    ensure_database(opts.database_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)
    claim_database(force)


def claim_database(force: bool) -> None:
    """The bench empties tables: refuse a database that holds events the bench did not make.

    A database the bench has used carries a `bench_owned` table; one without it is taken
    only while it has no events (or with --force).
    """
    from django.db import connection

    from bench.common import execute, scalar

    if connection.vendor != "postgresql":
        return
    owned = scalar("SELECT to_regclass('bench_owned') IS NOT NULL")
    if not owned and scalar("SELECT EXISTS (SELECT 1 FROM webhooks_webhookevent)") and not force:
        say("This database holds webhook events and was not set up by the bench, which empties the event tables. "
            "Point DATABASE_URL at a database of its own (or pass --force).")
        raise SystemExit(2)
    execute("CREATE TABLE IF NOT EXISTS bench_owned (created_at timestamptz DEFAULT now())")


def ensure_database(url: str) -> None:
    """Create the bench database on first use (the default name is the bench's own)."""
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            say(f"Cannot reach the bench database: {exc}")
            raise SystemExit(2) from exc
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    say(f"Created database {name}.")


def machine() -> str:
    cores = os.cpu_count()
    return f"{platform.system()} {platform.machine()}, {cores} cores (shared with other work), Python {platform.python_version()}"


def write_markdown(results: Results, path: str) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Run {results.started_at} on {results.machine}. Options: {results.options_line()}.",
        "Ratios are measured side by side in the same run; absolute figures move with the machine's other load.",
        "See docs/benchmarks.md for how each figure is obtained.",
        "",
    ]
    if len(set(results.runs.values())) > 1:
        lines += ["Scenarios measured in other runs (`--update`):", ""]
        lines += [f"- {name}: {run}" for name, run in results.runs.items() if not run.startswith(results.started_at)]
        lines.append("")
    lines += [
        "| Scenario | Measure | Value | Target | Met | How |",
        "|---|---|---|---|---|---|",
    ]
    for fig in results.figures:
        met = "" if fig.met is None else ("yes" if fig.met else "**no**")
        value = f"{fig.value} {fig.unit}".strip()
        lines.append(f"| {fig.scenario} | {fig.measure} | {value} | {fig.target} | {met} | {fig.how} |")
    for scenario, why in results.unavailable.items():
        lines.append(f"| {scenario} | not available on this build | | | | {why} |")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def keep_other_scenarios(results: Results, path: str, ran: list[str]) -> None:
    """--update: the figures of scenarios not run now come from the previous results.json,
    in scenario order, each scenario labelled with the run that measured it."""
    try:
        with open(path) as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        say(f"--update: no readable {path}; writing this run only")
        return
    old_runs = old.get("runs") or {}
    figures = []
    for name in SCENARIOS:
        if name in ran:
            figures += [f for f in results.figures if f.scenario == name]
        else:
            kept = [Figure(**f) for f in old.get("figures", []) if f["scenario"] == name]
            figures += kept
            if kept:
                results.runs[name] = old_runs.get(name, old.get("started_at", "an earlier run"))
            if name in old.get("unavailable", {}):
                results.unavailable[name] = old["unavailable"][name]
            if name in old.get("raw", {}):
                results.raw[name] = old["raw"][name]
    results.figures = figures


def main(argv: list[str] | None = None) -> int:
    args, opts = parse(argv)
    sys.path.insert(0, str(ROOT))
    setup_django(opts, args.allow_sqlite, args.force)
    results = Results(
        started_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine=machine(),
        options={k: v for k, v in asdict(opts).items()},
    )
    safe_db = opts.database_url.split("@")[-1]
    say(f"Benchmarks on {safe_db}{' (smoke sizes)' if opts.smoke else ''}; {results.machine}.")
    say("The bench empties the event, dead-letter and queue tables of this database.")
    failed = False
    for name in args.scenarios or list(SCENARIOS):
        say(f"\n== {name} ==")
        t0 = time.monotonic()
        load_before = os.getloadavg()[0]
        try:
            importlib.import_module(SCENARIOS[name]).run(opts, results)
        except NotAvailable as missing:
            results.unavailable[name] = f"missing: {missing}"
            say(f"  not available on this build: missing {missing}")
        except Exception:  # noqa: BLE001 - report the crash, run the other scenarios
            failed = True
            results.unavailable[name] = "crashed: " + traceback.format_exc().strip().splitlines()[-1]
            traceback.print_exc()
        load_after = os.getloadavg()[0]
        say(f"  ({name} took {time.monotonic() - t0:.0f}s; load average {load_before:.1f} before, {load_after:.1f} after)")
        if name not in results.unavailable:
            # Other work on a shared machine moves absolute figures: say how busy it was.
            results.add(name, "machine load average (1 min) before / after", f"{load_before:.1f} / {load_after:.1f}", "",
                        how=f"os.getloadavg() on {os.cpu_count()} cores; above the core count, other work competed")
    os.makedirs(args.output, exist_ok=True)
    ran = args.scenarios or list(SCENARIOS)
    results.runs = {name: f"{results.started_at}, {results.options_line()}" for name in ran}
    if args.update:
        keep_other_scenarios(results, os.path.join(args.output, "results.json"), ran)
    with open(os.path.join(args.output, "results.json"), "w") as fh:
        json.dump(asdict(results), fh, indent=2, default=str)
    write_markdown(results, os.path.join(args.output, "RESULTS.md"))
    say(f"\nWrote {args.output}/results.json and {args.output}/RESULTS.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
