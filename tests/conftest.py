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


@pytest.fixture
def outbox_cache_pinned(settings):
    """For query counts: the reporting outbox re-reads the subscribed event
    types every TIDINGS_REPORTING_CACHE_SECONDS; read them now and keep them
    for the test, so no refresh lands in one count only."""
    from messaging.reporting import outbox

    settings.TIDINGS_REPORTING_CACHE_SECONDS = 3600
    outbox.forget_enabled()
    outbox.subscribed_types()
