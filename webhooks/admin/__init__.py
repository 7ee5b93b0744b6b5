"""Admin for the webhooks app, one module per screen family."""

from webhooks.admin import compliance, events, routing, shops  # noqa: F401
