#!/bin/sh
# Production-like run on one machine: the release step, then the qcluster and gunicorn
# side by side, with the environment of docs/deploy.md. Ctrl+C or SIGTERM stops both
# gracefully: gunicorn gets TERM, the qcluster's MAIN PID gets TERM (it runs in its own
# session, so a terminal's Ctrl+C never reaches its children: django-q2 #346).
# Exit code: gunicorn's.
set -eu
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
"$VENV/bin/python" - <<'PY' || exit 1
import os, sys
if os.environ.get("DEBUG", "0") not in ("", "0") or not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    sys.exit("serve is for production settings: DEBUG=0 and DATABASE_URL=postgres://... (docs/deploy.md)")
PY
PYTHON="$VENV/bin/python" scripts/release.sh
setsid "$VENV/bin/python" manage.py qcluster &
QCLUSTER=$!
"$VENV/bin/gunicorn" -c gunicorn.conf.py timedify_ops.wsgi &
WEB=$!
stop() { kill -TERM "$WEB" 2>/dev/null || true; kill -TERM "$QCLUSTER" 2>/dev/null || true; }
trap stop INT TERM
STATUS=0
wait "$WEB" || STATUS=$?
stop
wait "$QCLUSTER" 2>/dev/null || true
exit "$STATUS"
