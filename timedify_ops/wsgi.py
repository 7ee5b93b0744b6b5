"""The WSGI entry point: the console, with webhook deliveries on a lean handler.

A delivery needs none of the console's middleware: sessions, CSRF, the login, messages,
login throttling, static files and the browser security headers all serve pages, while
the intake view verifies its own signature and answers JSON to a machine. Profiled under
load (docs/benchmarks.md), that stack cost about a sixth of the intake's CPU per request.
So every request under /webhooks/ goes to a second Django handler with no middleware that
resolves only the webhook URLs; everything else goes to the usual handler. Both are
Django's own WSGIHandler: request signals (connection clean-up), exception handling and
the 404 and 500 answers are Django's.
"""

import os
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timedify_ops.settings")
console = get_wsgi_application()

INTAKE_PREFIX = "/webhooks/"
INTAKE_URLCONF = "timedify_ops.intake_urls"


class IntakeHandler(WSGIHandler):
    """Django's handler with no middleware and the webhook URLs only."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        # What BaseHandler.load_middleware ends with when MIDDLEWARE is empty, plus the
        # host check.
        self._middleware_chain = convert_exception_to_response(self._checked)

    def _checked(self, request: Any) -> Any:
        # ALLOWED_HOSTS holds here too: nothing in the intake reads the host otherwise
        # (CommonMiddleware did); a foreign Host gets Django's 400.
        request.get_host()
        return self._get_response(request)  # type: ignore[attr-defined]

    def get_response(self, request: Any) -> Any:
        request.urlconf = INTAKE_URLCONF
        return super().get_response(request)


intake = IntakeHandler()


def application(environ: dict[str, Any], start_response: Any) -> Any:
    handler = intake if environ.get("PATH_INFO", "").startswith(INTAKE_PREFIX) else console
    return handler(environ, start_response)
