"""Settings for the test suite: the real settings, with a throwaway secret
key so tests run with DEBUG off as production does."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")

from config.settings import *  # noqa: F403
