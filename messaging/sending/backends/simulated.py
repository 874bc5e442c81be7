"""The simulated backend: answers as the channel's real provider would and
then produces its callbacks (messaging.sending.simulator).

It honours idempotency keys as those providers do: an answer is drawn from
the message's stable key and attempt, so the same key gets the same
provider message id again, and callbacks carry provider event ids that
ingestion stores once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from messaging.sending.backends import SendRequest, SendResult
from messaging.sending.simulator import Simulator, plan_context


class SimulatedBackend:
    honours_idempotency_keys = True

    def __init__(self, channel: str, *, simulator: Simulator | None = None):
        self.channel = channel
        self.simulator = simulator or Simulator.from_settings()
        self.name = "simulated"

    def send(self, requests: Sequence[SendRequest], *, now: datetime) -> list[SendResult]:
        return [self.simulator.answer(request) for request in requests]

    def after_recorded(
        self, requests: Sequence[SendRequest], results: Sequence[SendResult], *, sent_at: datetime
    ) -> None:
        answers = {result.message_id: result for result in results}
        context = plan_context(requests)
        callbacks = []
        for request in requests:
            callbacks.extend(self.simulator.plan(request, answers[request.message_id], context))
        self.simulator.dispatch(callbacks, sent_at=sent_at)
