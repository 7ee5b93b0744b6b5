"""The saturation loader: wrk (a C load generator) posting unique, signed Shopify deliveries.

The Python loader shares the machine's cores with the servers it measures and throttles
them; wrk spends a fraction of that CPU per request, so the servers get the machine. wrk
cannot sign a request itself, so a Lua script is written with a set of pre-signed bodies
(the signature covers the body only) and each request takes the next body with a webhook
id of its own: every request is a new delivery, as with the Python loader.

wrk counts answers outside 2xx/3xx as `status` errors; those and the socket errors are
reported apart, so a run that was refused is never read as throughput.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.loadgen import delivery

BODIES = 500  # distinct pre-signed bodies; webhook ids are unique per request regardless


def available() -> str | None:
    """The wrk binary, installed from Debian's package when missing and this user can."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "-qq", "wrk"], ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(command, env=env, capture_output=True, check=False, timeout=600)
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def _lua_string(text: str) -> str:
    # json.dumps of ASCII text is a valid Lua string literal (\\", \\\\, \\n, no \\u escapes).
    return json.dumps(text, ensure_ascii=True)


def script(*, secret: str, prefix: str, topic: str, path: str, shops: int) -> str:
    """The Lua script: one request per call, each a new delivery; a JSON summary at the end."""
    triples = [delivery(i, secret=secret, shops=shops) for i in range(BODIES)]
    bodies = ",\n".join(_lua_string(body.decode()) for body, _, _ in triples)
    signatures = ",\n".join(_lua_string(sig) for _, sig, _ in triples)
    domains = ",\n".join(_lua_string(shop) for _, _, shop in triples)
    now = datetime.now(UTC).isoformat()
    return f"""
local bodies = {{ {bodies} }}
local signatures = {{ {signatures} }}
local domains = {{ {domains} }}
local count = 0
local thread_no = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

function request()
  count = count + 1
  local k = (count % {BODIES}) + 1
  local headers = {{}}
  headers["Content-Type"] = "application/json"
  headers["X-Shopify-Topic"] = {_lua_string(topic)}
  headers["X-Shopify-Hmac-Sha256"] = signatures[k]
  headers["X-Shopify-Shop-Domain"] = domains[k]
  headers["X-Shopify-Webhook-Id"] = {_lua_string(prefix)} .. "-" .. thread_no .. "-" .. count
  headers["X-Shopify-API-Version"] = "2025-10"
  headers["X-Shopify-Triggered-At"] = {_lua_string(now)}
  return wrk.format("POST", {_lua_string(path)}, headers, bodies[k])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"connect\\": %d, \\"read\\": %d, " ..
    "\\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, \\"p50_us\\": %d, \\"p95_us\\": %d, " ..
    "\\"p99_us\\": %d, \\"max_us\\": %d}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def saturate(binary: str, port: int, *, secret: str, prefix: str, duration: float, connections: int,
             topic: str = "orders/create", path: str = "/webhooks/shopify/", shops: int = 50) -> dict[str, Any]:
    """One closed-loop run of wrk; the same keys as the Python loader's summary."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        lua = Path(tmp) / "deliveries.lua"
        lua.write_text(script(secret=secret, prefix=prefix, topic=topic, path=path, shops=shops))
        # One thread: at these rates it is far from busy, and it leaves the cores to the servers.
        args = [binary, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
                "-s", str(lua), f"http://127.0.0.1:{port}{path}"]
        out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=duration + 120)
    match = re.search(r"^WRK-JSON (\{.*\})$", out.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no summary: {out.stdout[-500:]} {out.stderr[-500:]}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    ok = raw["requests"] - raw["status"]
    return {
        "loader": "wrk",
        "completed": raw["requests"],
        "ok": ok,
        "statuses": {"2xx": ok, "other": raw["status"]} if raw["status"] else {"2xx": ok},
        "errors": errors,
        "error_sample": "" if not errors else f"wrk socket errors: {raw}",
        "seconds": round(seconds, 3),
        "throughput_rps": round(ok / seconds, 1) if seconds else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p95_ms": round(raw["p95_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
    }
