import re
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from messaging.models import WebhookStatus
from messaging.webhooks.inbox import PARSERS, webhook_requests_replay

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, now: datetime) -> datetime:
    """ISO 8601 (a date or a time; UTC unless it says otherwise) or an age
    such as 30m, 6h, 2d."""
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(
            f"--since {value!r}: give an ISO 8601 date or time, or an age like 6h or 2d."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Re-applies stored webhook requests from the inbox, oldest first. Idempotent: "
        "events already applied change nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Only requests received since (ISO 8601, or 6h, 2d).")
        parser.add_argument("--provider", choices=sorted(PARSERS), help="Only this provider's.")
        parser.add_argument(
            "--failed",
            action="store_true",
            help="Only requests whose apply failed (and those left pending by a crash).",
        )
        parser.add_argument(
            "--waiting",
            action="store_true",
            help="Only requests waiting for their message (with --failed: both).",
        )

    def handle(self, *args, since=None, provider=None, failed=False, waiting=False, **options):
        now = timezone.now()
        statuses = []
        if failed:
            statuses.append(WebhookStatus.FAILED)
        if waiting:
            statuses.append(WebhookStatus.WAITING)
        report = webhook_requests_replay(
            since=parse_since(since, now) if since else None,
            provider=provider,
            statuses=statuses,
            now=now,
        )
        self.stdout.write(
            f"Replayed {report.total} webhook requests: {len(report.applied)} applied, "
            f"{len(report.waiting)} waiting for their message, {len(report.failed)} failed."
        )
        for request_id in report.failed:
            self.stdout.write(f"failed: webhook request {request_id} (see its error)")
        if report.failed:
            raise CommandError(f"{len(report.failed)} requests failed to apply.", returncode=1)
