"""Send a signed synthetic delivery of every handled topic and check what happened.

Against this console (the default target, or any loopback URL) it also checks that each
delivery was stored, marked synthetic, and, when a worker cluster is running, processed
within --wait seconds. Synthetic events are left out of the SLO figures.

Exit codes: 0 every delivery passed, 1 any delivery failed (or nothing could be sent), 2 bad usage.
"""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from timedify_ops import stats, synthetic
from webhooks.arguments import seconds


class Command(BaseCommand):
    help = "Send signed synthetic webhooks of every handled topic to a target and check them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--target", default=synthetic.DEFAULT_TARGET,
                            help=f"Base URL or full intake URL (default {synthetic.DEFAULT_TARGET}).")
        parser.add_argument("--wait", type=seconds(0, 600), default=15.0,
                            help="Seconds to wait for processing when a worker runs, 0 to 600 "
                                 "(default 15; 0: check once, at once).")
        parser.add_argument("--no-store-check", action="store_true",
                            help="Only check the HTTP answers (a target that is not this console).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SHOPIFY_API_SECRET:
            self.stderr.write("SHOPIFY_API_SECRET is not set: cannot sign deliveries")
            sys.exit(1)
        target: str = options["target"]
        check_store = synthetic.is_local(target) and not options["no_store_check"]
        worker_running = bool(stats.clusters())
        deliveries = synthetic.run(
            target, check_store=check_store, wait_processed=options["wait"], worker_running=worker_running
        )
        for d in deliveries:
            outcome = "ok" if d.ok else "FAILED: " + "; ".join(d.problems)
            extra = f" stored={d.stored}" if d.stored is not None else ""
            extra += f" status={d.final_status}" if d.final_status else ""
            self.stdout.write(f"{d.topic:<28} {d.status_code or '-'} {d.webhook_id}{extra}  {outcome}")
        if check_store and not worker_running:
            self.stdout.write("No worker cluster is running: processing was not checked.")
        failed = [d for d in deliveries if not d.ok]
        self.stdout.write(
            f"{len(deliveries)} synthetic deliveries to {synthetic.endpoint(target)}: "
            f"{len(deliveries) - len(failed)} ok, {len(failed)} failed"
        )
        if failed or not deliveries:
            sys.exit(1)
