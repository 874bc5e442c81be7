import pytest

from messaging.webhooks.providers import base
from tests.pipeline import workers
from tests.pipeline.helpers import use_backend


@pytest.fixture
def sendgrid_key(settings):
    private, public = base.generate_p256_keypair()
    settings.SENDGRID_WEBHOOK_VERIFICATION_KEY = [public]
    return private, public


@pytest.fixture
def broker(settings):
    use_backend(settings, "capture")
    yield from workers.broker_for_workers(settings)


@pytest.fixture
def start_worker():
    """start_worker(broker, beat=True, **env): a real worker process (with
    beat: the sweepers on their schedule), stopped at the end."""
    started = []

    def start(broker, *, beat=True, concurrency=2, **env):
        worker = workers.WorkerProcess(
            workers.worker_env(broker, **env),
            concurrency=concurrency,
            extra_args=("--beat",) if beat else (),
        )
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
