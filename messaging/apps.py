from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from messaging.webhooks.views import check_webhook_secrets

        # CONTRACT.md: the app warns at start-up about a provider webhook
        # with no secret.
        checks.register(check_webhook_secrets)
