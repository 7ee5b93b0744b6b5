from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from timedify_ops import views

admin.site.site_header = "Timedify Ops Console"
admin.site.site_title = "Timedify Ops"
admin.site.index_title = "Operations"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health", views.health, name="health"),
    path("health/", views.health),
    path("webhooks/", include("webhooks.urls")),
    path("admin/", admin.site.urls),
]
