"""Admin: routing."""

from __future__ import annotations
