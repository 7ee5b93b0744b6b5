#!/bin/sh
# Health gate: wait until URL/health answers 200 (database reachable, every migration
# applied), for at most TIMEOUT seconds. Use it after starting a web process and before
# putting it back behind the load balancer, or before stopping the next one.
# Usage: scripts/wait_healthy.sh [BASE_URL] [TIMEOUT]   (default http://127.0.0.1:8000 60)
# Exit codes: 0 healthy; 1 not healthy within TIMEOUT (the last answer is printed).
set -u
BASE="${1:-http://127.0.0.1:8000}"
TIMEOUT="${2:-60}"
PYTHON="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"
exec "$PYTHON" - "$BASE/health" "$TIMEOUT" <<'PY'
import sys, time, urllib.error, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
last = "no answer"
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            print(f"healthy: {url} answered {response.status}")
            sys.exit(0)
    except urllib.error.HTTPError as exc:
        last = f"{exc.code} {exc.read()[:300].decode(errors='replace')}"
    except OSError as exc:
        last = str(exc)
    time.sleep(1)
print(f"not healthy: {url}: {last}", file=sys.stderr)
sys.exit(1)
PY
