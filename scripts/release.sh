#!/bin/sh
# Release step of a deploy, idempotent: apply migrations, (re)create the schedules,
# collect static files, then check the deployment settings. Run it once per deploy,
# before restarting the web and worker processes (docs/deploy.md).
# Exit codes: 0 ready; non-zero: the step that failed (nothing was restarted).
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" manage.py migrate --no-input
# The database cache (used without REDIS_URL) holds the clusters' heartbeats; a no-op
# when the cache is Redis.
"$PYTHON" manage.py createcachetable
"$PYTHON" manage.py setup_schedules
"$PYTHON" manage.py collectstatic --no-input --verbosity 0
"$PYTHON" manage.py check --deploy --fail-level WARNING
