"""Recipient-facing tracking URLs, at the root: open pixel and click redirect."""

from django.urls import path

from messaging.tracking import unsubscribe, views

app_name = "tracking"

urlpatterns = [
    path("t/o/<str:token>.gif", views.open_pixel, name="open-pixel"),
    path("t/c/<str:token>", views.click_redirect, name="click"),
    path("u/<str:token>", unsubscribe.unsubscribe, name="unsubscribe"),
]
