"""Provider webhook endpoints, at the root (/webhooks/<provider>/)."""

from django.urls import path

from messaging.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("webhooks/<str:provider>/", views.provider_webhook, name="provider"),
]
