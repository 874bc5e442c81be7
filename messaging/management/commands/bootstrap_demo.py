import os

from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

from campaigns.models import Campaign

DEMO_USERNAME = "admin"


def demo_password() -> str:
    return os.environ.get("TIDINGS_ADMIN_PASSWORD", "tidings-demo")


class Command(BaseCommand):
    help = "make run's set-up: demo data when the database is empty, and a demo admin login."

    def handle(self, *args, **options):
        if not Campaign.objects.exists() and "seed_demo" in get_commands():
            call_command("seed_demo", stdout=self.stdout)
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
