"""Live tail of webhook events as they are stored, coloured by topic on a TTY.

Polls by primary key (the index every table has), so it costs one tiny query per tick
whatever the table size. Stops by itself after SECONDS. Exit codes: 0, or 2 for bad usage.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Max
from rich.text import Text

from timedify_ops.console import console_for, inert, topic_colour
from webhooks.arguments import seconds, whole
from webhooks.models import WebhookEvent


class Command(BaseCommand):
    help = "Print webhook events as they arrive, for SECONDS seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("seconds", nargs="?", type=seconds(0, 86_400), default=60.0,
                            help="How long to watch, 0 to 86400 (default 60; 0: one look, then stop).")
        parser.add_argument("--topic", action="append", default=[], help="Only this topic (repeatable).")
        parser.add_argument("--interval", type=seconds(0.05, 60), default=0.5,
                            help="Seconds between polls, 0.05 to 60 (default 0.5).")
        parser.add_argument("--backlog", type=whole(0, 10_000), default=0,
                            help="Show the last N stored events first, 0 to 10000 (default 0: none).")

    def handle(self, *args: Any, **options: Any) -> None:
        console = console_for(self.stdout, **options)
        topics: list[str] = options["topic"]
        events = WebhookEvent.objects.order_by("id")
        if topics:
            events = events.filter(topic__in=topics)
        last_id = WebhookEvent.objects.aggregate(m=Max("id"))["m"] or 0
        if options["backlog"]:
            backlog = list(events.filter(id__lte=last_id).order_by("-id").values_list("id", flat=True)[: options["backlog"]])
            last_id = min(backlog) - 1 if backlog else last_id
        seen: Counter[str] = Counter()
        deadline = time.monotonic() + options["seconds"]
        while True:
            batch = list(
                events.filter(id__gt=last_id).values(
                    "id", "received_at", "topic", "shop_domain", "status", "ack_latency_ms", "webhook_id", "synthetic"
                )[:500]
            )
            for e in batch:
                last_id = e["id"]
                seen[e["topic"]] += 1
                latency = "" if e["ack_latency_ms"] is None else f"{e['ack_latency_ms']:.1f}ms"
                flag = " synthetic" if e["synthetic"] else ""
                # Every stored value is an inert Text piece: no markup, no control characters.
                console.print(Text(" ").join([
                    Text(f"{e['received_at']:%H:%M:%S} #{e['id']}"), inert(e["topic"], topic_colour(e["topic"])),
                    inert(e["shop_domain"]), inert(e["status"]), Text(latency), inert(e["webhook_id"]) + flag,
                ]))
            if len(batch) == 500:
                continue  # more waiting: read on before sleeping
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(options["interval"], remaining))
        by_topic = ", ".join(f"{t} {n}" for t, n in seen.most_common()) or "none"
        self.stdout.write(f"{sum(seen.values())} events in {options['seconds']:g} s ({inert(by_topic).plain})")
