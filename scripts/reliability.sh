#!/bin/sh
# Reliability scenarios: real gunicorn and qcluster processes against a private
# PostgreSQL and Redis started on free loopback ports (the shared servers are never
# touched). Each scenario prints one line of counts: sent, acknowledged, stored,
# processed, lost. Needs PostgreSQL 15 binaries (PG_BIN), redis-server, and root or the
# postgres user. Under CI=true a missing dependency fails instead of skipping.
# Usage: scripts/reliability.sh [extra pytest args]
set -eu
cd "$(dirname "$0")/.."
PYTEST="${PYTEST:-.venv/bin/pytest}"
exec "$PYTEST" -m reliability tests/reliability -p no:cacheprovider -s -q "$@"
