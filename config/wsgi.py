import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _startup_warnings() -> None:
    # Servers such as gunicorn run no system checks: the webhook endpoints
    # without a secret (they answer 503) are said at start-up here.
    from messaging.webhooks.views import check_webhook_secrets

    for warning in check_webhook_secrets():
        logging.getLogger("tidings.startup").warning("%s %s", warning.msg, warning.hint)


_startup_warnings()
