from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("shopify/", views.shopify_webhook, name="shopify"),
    # One alias per topic: the path must agree with X-Shopify-Topic.
    path("shopify/<path:topic>/", views.shopify_webhook, name="shopify-topic"),
    path("stripe/", views.stripe_webhook, name="stripe"),
]
