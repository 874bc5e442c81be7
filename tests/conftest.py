import os

import pytest
from django.conf import settings


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    redis = os.environ.get("REDIS_URL") or "unset"
    return f"database: {db['ENGINE']} {db.get('NAME')}; redis: {redis}"


@pytest.fixture(autouse=True)
def _eager_tasks(settings):
    # Unit tests run tasks in process; the integration tests that start a real
    # worker process switch this off themselves.
    settings.CELERY_TASK_ALWAYS_EAGER = True
