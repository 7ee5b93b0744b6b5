"""Where an intake request's CPU goes: py-spy on a gunicorn worker under wrk's load.

    DATABASE_URL=postgres://.../timedify_bench python -m bench.profile [--seconds 12] [--top 40]

One console worker (so every sample is one request path), wrk at 4 connections on
unique signed deliveries, py-spy sampling the worker at 250 Hz. Prints the functions by
inclusive and by own share of the worker's non-idle samples; docs/benchmarks.md quotes
these tables. Needs py-spy (requirements-dev.txt) and the right to trace the worker
(root, or kernel.yama.ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import wrk
from bench.__main__ import parse, setup_django
from bench.common import SHOPIFY_SECRET, child_env, gunicorn, process_tree, say


def table(raw: str, top: int) -> str:
    """py-spy's raw (collapsed) stacks as two tables of shares of all samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        # "func (path/to/site-packages/pkg/mod.py:123)" -> "func (pkg/mod.py)"
        frames = [re.sub(r" \(.*?(?:site-packages/|python3\.\d+/)?([\w./-]*?\.py):\d+\)", r" (\1)", f) for f in stack.split(";")]
        # Only the request: the server's main loop above handle_request is in every sample.
        starts = [i for i, f in enumerate(frames) if f.startswith("SyncWorker.handle_request ")]
        frames = frames[starts[0]:] if starts else ["(outside a request: accepting, idle, signals)"]
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "| inclusive | function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f} % | `{f}` |" for f, n in inclusive.most_common(top)]
    lines += ["", "| own | function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f} % | `{f}` |" for f, n in own.most_common(top // 2)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    binary = wrk.available()
    if not Path(spy).exists() or not binary:
        say("needs py-spy (pip install -r requirements-dev.txt) and wrk (apt-get install wrk)")
        return 2
    _, opts = parse(["ingest", "--no-redis", "--web-workers", "1"])
    setup_django(opts, allow_sqlite=False)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, \
            gunicorn(opts, "timedify_ops.wsgi:application", env=child_env(opts), label="profiled console") as (port, proc):
        wrk.saturate(binary, port, secret=SHOPIFY_SECRET, prefix=f"warm-{time.time_ns()}", duration=2, connections=4)
        worker = process_tree(proc.pid)[1]
        out = Path(tmp) / "stacks.txt"
        sampler = subprocess.Popen([spy, "record", "-p", str(worker), "-d", str(round(args.seconds)), "-r", "250",
                                    "-f", "raw", "-o", str(out), "--nonblocking"], stdout=subprocess.DEVNULL)
        load = wrk.saturate(binary, port, secret=SHOPIFY_SECRET, prefix=f"prof-{time.time_ns()}",
                            duration=args.seconds, connections=4)
        sampler.wait(timeout=args.seconds + 60)
        say(f"one worker under wrk: {load['throughput_rps']} req/s, p99 {load['p99_ms']} ms")
        print(table(out.read_text(), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
