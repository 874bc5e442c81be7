"""The marketer pages of messaging (webhooks and tracking live in
messaging.webhooks.urls)."""

from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("deliveries/", views.delivery_log, name="deliveries"),
    path("messages/<int:pk>/", views.message_detail, name="message"),
    path("messages/<int:pk>/send/", views.message_send, name="message-send"),
    path("messages/<int:pk>/retry/", views.message_retry, name="message-retry"),
    path("messages/<int:pk>/discard/", views.message_discard, name="message-discard"),
]
