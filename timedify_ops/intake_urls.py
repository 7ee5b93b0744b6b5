"""The URLs the lean intake handler resolves (timedify_ops/wsgi.py): webhook deliveries only."""

from django.urls import include, path

urlpatterns = [
    path("webhooks/", include("webhooks.urls")),
]
