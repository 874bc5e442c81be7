"""`make run`'s server: Django's runserver (with static files) whose banner
is what a newcomer needs, last: one line about the demo's unset webhook
secrets, then the login and the URL.

Django's date, version and "development server" lines, the reloader's
"Watching for file changes" and the system-check header are left out; any
check that finds something still prints it, and errors are never hidden.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.management.commands.runserver import (
    Command as RunserverCommand,
)

from messaging.management.commands.bootstrap_demo import DEMO_USERNAME, demo_password
from messaging.webhooks.views import unset_webhook_secrets


def webhook_secrets_line() -> str:
    """The demo's one line about provider webhooks without a secret ("" when
    every secret is set)."""
    unset = [name for _, name, _ in unset_webhook_secrets()]
    if not unset:
        return ""
    return f"Demo: no webhook secrets set ({', '.join(unset)}): expected here."


def login_line() -> str:
    user = get_user_model().objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        return "No demo admin yet: `manage.py bootstrap_demo` creates it."
    password = demo_password()
    if user.check_password(password):
        return f"Log in as {DEMO_USERNAME} / {password}"
    return f"Log in as {DEMO_USERNAME} (with the password you gave it)"


class Command(RunserverCommand):
    help = "runserver for `make run`: a short banner ending with the demo login and the URL."

    def handle(self, *args, **options):
        # The reloader's "Watching for file changes" line (INFO) says nothing
        # a newcomer needs.
        logging.getLogger("django.utils.autoreload").setLevel(logging.WARNING)
        super().handle(*args, **options)

    def inner_run(self, *args, **options):
        if not options["skip_checks"]:
            # Quiet unless a check finds something (runserver would print
            # "Performing system checks..." and a count every time).
            self.check()
        super().inner_run(*args, **{**options, "skip_checks": True})

    def on_bind(self, server_port):
        quit_command = "CTRL-BREAK" if sys.platform == "win32" else "CONTROL-C"
        addr = f"[{self.addr}]" if self._raw_ipv6 else self.addr
        if addr == "0":
            addr = "0.0.0.0"
        secrets = webhook_secrets_line() if settings.DEBUG else ""
        if secrets:
            self.stdout.write(secrets)
        self.stdout.write(login_line())
        self.stdout.write(
            f"Tidings is running at {self.protocol}://{addr}:{server_port}/ "
            f"({quit_command} stops it)"
        )
