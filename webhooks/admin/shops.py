"""Admin: shops."""

from __future__ import annotations
