#!/usr/bin/env python
import os
import sys

SERVING = {"runserver", "testserver", "serve_demo"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Commands may use the development secret key under var/ (config/settings.py);
    # the ones that serve requests may not: with DEBUG off they need SECRET_KEY.
    if not SERVING.intersection(sys.argv[1:2]):
        os.environ.setdefault("TIDINGS_COMMAND_LINE", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
