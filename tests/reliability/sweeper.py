"""Run the sweeper every INTERVAL seconds for DURATION seconds (what the scheduled sweep
job does every minute in production, faster): `python -m tests.reliability.sweeper 1 30`."""

from __future__ import annotations

import sys
import time

import django

if __name__ == "__main__":
    django.setup()
    from django.db import close_old_connections

    from webhooks.processing import sweep

    interval, duration = float(sys.argv[1]), float(sys.argv[2])
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        try:
            sweep()
        except Exception as exc:  # noqa: BLE001 - the database may be coming back
            print(f"sweep failed: {exc!r}", flush=True)
            close_old_connections()
        time.sleep(interval)
