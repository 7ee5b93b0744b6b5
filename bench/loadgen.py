"""Load generator: posts unique, pre-signed Shopify deliveries over HTTP/1.1.

Runs in its own process (`python -m bench.loadgen ...`) so its CPU is not the server's,
imports no Django, and prints one JSON object on stdout. Every request is built and
signed before the clock starts. Two modes:

- `rate`: open loop at a fixed rate. Request i is due at t0 + i/rate and its latency is
  measured from that due time, not from when it was actually sent, so a stalled server
  cannot hide its stall by slowing the client down (no coordinated omission).
- `saturate`: closed loop, `--concurrency` connections sending back to back; the first
  `--warmup` seconds are not counted. Throughput is completed requests / measured seconds.

Connections are kept alive when the server allows it; gunicorn's sync workers close
every connection, so a new one is opened per request there (for both the console and the
baseline alike).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def delivery(i: int, *, secret: str, shops: int) -> tuple[bytes, str, str]:
    """(body, signature, shop domain) of delivery number i, signed like Shopify signs."""
    payload = {
        "id": i,
        "admin_graphql_api_id": f"gid://shopify/Order/{i}",
        "email": f"customer{i}@example.com",
        "current": ["read_orders", "write_products"],
        "total_price": "199.00",
        "currency": "EUR",
        "line_items": [{"id": i * 10 + n, "sku": f"SKU-{n}", "quantity": 1, "price": "39.80"} for n in range(5)],
        "note": "x" * 200,
    }
    body = json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return body, signature, f"bench-shop-{i % shops}.myshopify.com"


def build_requests(
    count: int, *, host: str, port: int, path: str, secret: str, prefix: str, topic: str, shops: int
) -> list[bytes]:
    """`count` complete HTTP requests, each a unique delivery signed like Shopify signs."""
    now = datetime.now(UTC).isoformat()
    requests: list[bytes] = []
    for i in range(count):
        body, signature, shop = delivery(i, secret=secret, shops=shops)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Shopify-Topic: {topic}\r\nX-Shopify-Hmac-Sha256: {signature}\r\n"
            f"X-Shopify-Shop-Domain: {shop}\r\nX-Shopify-Webhook-Id: {prefix}-{i}\r\n"
            f"X-Shopify-API-Version: 2025-10\r\nX-Shopify-Triggered-At: {now}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    error_sample: str = ""


class Client:
    """A tiny HTTP/1.1 client on asyncio streams that reuses connections when allowed."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send(self, raw: bytes) -> int:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(raw)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionError("server closed the connection")
            status = int(status_line.split()[1])
            length, close = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status


async def _one(client: Client, raw: bytes, due: float, stats: Stats, record: bool) -> None:
    try:
        status = await client.send(raw)
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        stats.errors += 1
        stats.error_sample = stats.error_sample or repr(exc)
        return
    if record:
        stats.latencies_ms.append((time.perf_counter() - due) * 1000)
        stats.statuses[str(status)] = stats.statuses.get(str(status), 0) + 1


async def run_rate(client: Client, requests: list[bytes], rate: float) -> tuple[Stats, float]:
    stats = Stats()
    tasks: list[asyncio.Task[None]] = []
    t0 = time.perf_counter() + 0.05
    for i, raw in enumerate(requests):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(client, raw, due, stats, True)))
    await asyncio.gather(*tasks)
    return stats, time.perf_counter() - t0


async def run_saturate(
    client_factory: type[Client], host: str, port: int, requests: list[bytes], concurrency: int, duration: float, warmup: float
) -> tuple[Stats, float]:
    stats = Stats()
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration
    cursor = iter(requests)
    exhausted = False

    async def loop() -> None:
        nonlocal exhausted
        client = client_factory(host, port)
        while time.perf_counter() < stop_at:
            raw = next(cursor, None)
            if raw is None:
                exhausted = True
                return
            began = time.perf_counter()
            await _one(client, raw, began, stats, began >= measure_from and began < stop_at)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    if exhausted:
        stats.error_sample = stats.error_sample or "ran out of pre-built requests: raise --max-requests"
    return stats, duration


def summary(stats: Stats, seconds: float) -> dict[str, object]:
    ok = sum(n for status, n in stats.statuses.items() if status.startswith("2"))
    lat = stats.latencies_ms
    return {
        "completed": len(lat),
        "ok": ok,
        "statuses": stats.statuses,
        "errors": stats.errors,
        "error_sample": stats.error_sample,
        "seconds": round(seconds, 3),
        "throughput_rps": round(ok / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(lat, 50), 2),
        "p95_ms": round(percentile(lat, 95), 2),
        "p99_ms": round(percentile(lat, 99), 2),
        "max_ms": round(max(lat), 2) if lat else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["rate", "saturate"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/webhooks/shopify/")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--prefix", required=True, help="webhook id prefix; ids are <prefix>-<n>")
    parser.add_argument("--topic", default="orders/create")
    parser.add_argument("--shops", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=60_000)
    args = parser.parse_args(argv)
    if args.mode == "rate":
        count = int(args.rate * args.duration)
    else:
        count = args.max_requests
    requests = build_requests(
        count, host=args.host, port=args.port, path=args.path, secret=args.secret,
        prefix=args.prefix, topic=args.topic, shops=args.shops,
    )
    if args.mode == "rate":
        stats, seconds = asyncio.run(run_rate(Client(args.host, args.port), requests, args.rate))
    else:
        stats, seconds = asyncio.run(
            run_saturate(Client, args.host, args.port, requests, args.concurrency, args.duration, args.warmup)
        )
    result = summary(stats, seconds)
    result.update(mode=args.mode, rate=args.rate if args.mode == "rate" else None, concurrency=args.concurrency)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
