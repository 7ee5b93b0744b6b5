"""Settings of the processes the reliability scenarios start: the product's, plus a
test-only app whose handlers count their runs."""

from __future__ import annotations

from timedify_ops.settings import *  # noqa: F403
from timedify_ops.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.reliability.sideeffect"]
