"""Machine-facing URLs at the root: provider webhooks and tracking."""

from django.urls import path

from messaging import tracking, webhooks

app_name = "webhooks"

urlpatterns = [
    path("webhooks/<str:provider>/", webhooks.provider_webhook, name="provider"),
    path("t/o/<str:token>.gif", tracking.open_pixel, name="open-pixel"),
    path("t/c/<str:token>", tracking.click_redirect, name="click"),
]
