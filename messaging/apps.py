from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from messaging.health import check_sweepers
        from messaging.webhooks.views import check_webhook_secrets

        # CONTRACT.md: the app warns at start-up about a provider webhook
        # with no secret.
        checks.register(check_webhook_secrets)
        # DESIGN.md "The send pipeline" 7: recovery runs by itself.
        checks.register(check_sweepers, deploy=True)

        # The role groups follow config.access.ROLES after every migrate (and
        # every test-database flush, which deletes groups).
        post_migrate.connect(_roles_ensure, sender=self)

        from campaigns.signals import attribution_changed
        from messaging.tasks import on_attribution_changed

        # An edit of a campaign's goal, rule or window re-attributes its goal
        # events (a Celery task).
        attribution_changed.connect(on_attribution_changed, dispatch_uid="reattribute")


def _roles_ensure(sender, **kwargs) -> None:
    from config.access import roles_ensure

    roles_ensure()
