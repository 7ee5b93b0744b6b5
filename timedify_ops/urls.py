from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from timedify_ops import views

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health", views.health, name="health"),
    path("health/", views.health),
    path("webhooks/", include("webhooks.urls")),
    path("admin/", admin.site.urls),
]
