from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from timedify_ops import dashboard, metrics, views

admin.site.site_header = "Timedify Ops Console"
admin.site.site_title = "Timedify Ops"
admin.site.index_title = "Operations"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health", views.health, name="health"),
    path("health/", views.health),
    path("metrics", metrics.prometheus_metrics, name="metrics"),
    path("api/metrics", metrics.api_metrics, name="api-metrics"),
    path("webhooks/", include("webhooks.urls")),
    # Before admin.site.urls: the dashboard lives under /admin/ but is not a model page.
    path("admin/ops/dashboard/", dashboard.dashboard, name="ops-dashboard"),
    # Resume only: pausing asks for a note, in the destination admin's action.
    path("admin/ops/breakers/<int:pk>/resume/", dashboard.resume_breaker, name="ops-breaker-resume"),
    path("admin/", admin.site.urls),
]
