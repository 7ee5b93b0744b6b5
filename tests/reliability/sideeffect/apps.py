from __future__ import annotations

from django.apps import AppConfig


class SideEffectConfig(AppConfig):
    name = "tests.reliability.sideeffect"
    label = "reliability_sideeffect"

    def ready(self) -> None:
        from tests.reliability.sideeffect import handlers  # noqa: F401  (registers them)
