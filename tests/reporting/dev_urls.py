"""config.urls as DEBUG builds it (the demo's inbox included): the tests run
with DEBUG off, so config.urls was imported without it."""

from django.urls import path

from config.urls import urlpatterns as served
from messaging.reporting.devinbox import webhook_inbox

urlpatterns = [
    *served,
    path("dev/webhook-inbox/", webhook_inbox, name="dev-webhook-inbox"),
]
