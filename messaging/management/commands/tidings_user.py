"""manage.py tidings_user USERNAME --role viewer|marketer|deliverability

Creates the user (or moves an existing one to that role) and prints its API
token on the last line, as ``Token: <key>``."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from config.access import ROLES, user_role_set


class Command(BaseCommand):
    help = "Create a user in a role (or move one to it) and print its API token."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=list(ROLES))
        parser.add_argument(
            "--password-env",
            metavar="VARIABLE",
            help="set the login password from this environment variable "
            "(a new user without one can use only the API token)",
        )
        parser.add_argument(
            "--no-admin",
            action="store_true",
            help="keep the user out of /admin/ (by default role users may use "
            "it, within their role's permissions: suppression import lives there)",
        )

    def handle(self, *args, username: str, role: str, password_env: str | None, **options):
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"{password_env} is not set.")
        user_model = get_user_model()
        with transaction.atomic():
            user, created = user_model.objects.get_or_create(username=username)
            if created and password is None:
                user.set_unusable_password()
            if password is not None:
                user.set_password(password)
            user.is_staff = not options["no_admin"]
            user.is_active = True
            user.save()
            user_role_set(user=user, role=role)
            token, _ = Token.objects.get_or_create(user=user)
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {username} with the role {role}.")
        if user.is_superuser:
            self.stdout.write(f"Note: {username} is a superuser, which holds every permission.")
        self.stdout.write(f"Token: {token.key}")
