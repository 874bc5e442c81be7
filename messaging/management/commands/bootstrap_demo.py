import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

from campaigns.models import Campaign
from campaigns.vocabulary import Status
from messaging.reporting.guard import dev_inbox_url
from messaging.reporting.models import Occurrence, ReportingWebhook
from messaging.reporting.services import reporting_webhook_create

DEMO_USERNAME = "admin"


def demo_password() -> str:
    return os.environ.get("TIDINGS_ADMIN_PASSWORD", "tidings-demo")


class Command(BaseCommand):
    help = (
        "make run's set-up: demo data when the database is empty, a demo admin login, and "
        "(DEBUG) a reporting webhook pointed at the demo's own /dev/webhook-inbox/."
    )

    def handle(self, *args, **options):
        if not Campaign.objects.exists() and "seed_demo" in get_commands():
            call_command("seed_demo", stdout=self.stdout)
        if settings.DEBUG:
            self._demo_reporting_webhook()
        password = demo_password()
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        # make run's server (serve_demo) prints the login last, where a
        # newcomer looks; this line is for bootstrap_demo run on its own.
        if created:
            user.set_password(password)
            user.save()
            self.stdout.write(f"Demo admin created: {DEMO_USERNAME} / {password}")
        else:
            self.stdout.write(f"Demo admin: {DEMO_USERNAME} (password unchanged)")

    def _demo_reporting_webhook(self) -> None:
        # After the seeded history: what flows out from here on (a send, an
        # open, a click) shows up on the inbox page.
        url = dev_inbox_url()
        if ReportingWebhook.objects.filter(url=url).exists():
            return
        reporting_webhook_create(url=url, events=Status.values, occurrence=Occurrence.EVERY)
        self.stdout.write(f"Demo reporting webhook: every message event is sent to {url}")
