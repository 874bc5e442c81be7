"""What the API, the admin and the demo call to manage reporting webhooks."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from messaging.reporting.delivery import notifications_end_disabled
from messaging.reporting.models import Occurrence, ReportingWebhook
from messaging.reporting.signing import secret_generate


def reporting_webhook_create(
    *,
    url: str,
    events: Sequence[str],
    occurrence: str = Occurrence.FIRST,
    include_content: bool = False,
    enabled: bool = True,
) -> ReportingWebhook:
    """A new endpoint with a fresh secret. The caller has checked the URL
    (messaging.reporting.guard)."""
    return ReportingWebhook.objects.create(
        url=url,
        events=list(dict.fromkeys(events)),
        occurrence=occurrence,
        include_content=include_content,
        enabled=enabled,
        secret=secret_generate(),
    )


def reporting_webhook_update(*, webhook: ReportingWebhook, **changes) -> ReportingWebhook:
    """Changes the given fields; switching a disabled endpoint back on clears
    its failure record and the note saying why it was disabled; switching it
    off ends its pending notifications, failed (endpoint_disabled)."""
    if "events" in changes:
        changes["events"] = list(dict.fromkeys(changes["events"]))
    if changes.get("enabled") and not webhook.enabled:
        webhook.failing_since = None
        webhook.disabled_note = ""
    was_enabled = webhook.enabled
    with transaction.atomic():
        for name, value in changes.items():
            setattr(webhook, name, value)
        webhook.save()
        if was_enabled and not webhook.enabled:
            endpoint_disabled(webhook)
    return webhook


def endpoint_disabled(webhook: ReportingWebhook) -> None:
    """A person switched the endpoint off (API or admin): nothing will claim
    its pending notifications, so they end failed now, in this transaction,
    each saying why."""
    notifications_end_disabled(now=timezone.now(), webhook_ids={webhook.id})
