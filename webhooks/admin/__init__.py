"""Admin for the webhooks app, one module per screen family."""

from webhooks.admin import events, routing, shops  # noqa: F401
