from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign
from messaging.history import partitions, retained_from
from messaging.models import Message, PrunedHistory
from messaging.reconcile import find_drift, repair


def checked_period() -> str:
    """Which part of the event log the check reads (messaging.history)."""
    start = retained_from()
    months = sorted(partitions())
    if start is None:
        first = Message.objects.order_by("created_at").values_list("created_at", flat=True)[:1]
        since = f"{first[0]:%Y-%m}" if first else "the first message"
        return f"Checked the event log of messages created from {since} to now (none pruned)."
    kept = [month for month in months if month >= start]
    oldest = f", oldest partition {kept[0]:%Y-%m}" if kept else ""
    pruned = PrunedHistory.objects.filter(before__lte=start)
    events = sum(pruned.values_list("events", flat=True))
    return (
        f"Checked the event log of messages created from {start:%Y-%m} to now{oldest}; "
        f"history before {start:%Y-%m} was pruned ({events} events), and what it "
        "contributed is counted as recorded when it was dropped."
    )


class Command(BaseCommand):
    help = (
        "Recounts every metric and attributes every goal event again from the event log, "
        "prints the drift; exits 1 on drift."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, help="Only this campaign's counters.")
        parser.add_argument("--fix", action="store_true", help="Repair the drift found.")

    def handle(self, *args, campaign=None, fix=False, **options):
        if campaign is not None and not Campaign.objects.filter(pk=campaign).exists():
            # A mistyped id must not read as a clean check.
            raise CommandError(f"No campaign {campaign}.", returncode=2)
        period = checked_period()
        drift, expected, drifted = find_drift(campaign)
        for key, (stored, recounted) in sorted(drift.counters.items(), key=lambda i: str(i[0])):
            self.stdout.write(
                f"drift {' '.join(str(part) for part in key)}: stored {stored}, "
                f"recounted {recounted}"
            )
        for message_id in sorted(drift.messages):
            self.stdout.write(f"drift message {message_id}: derived fields differ from its events")
        for message_id, event_id, rule in drift.breaches:
            self.stdout.write(f"rule broken by message {message_id} event {event_id}: {rule}")
        for conversion in drift.conversions:
            what = (
                "stored, but the credit rule does not make it"
                if conversion.stored
                else "made by the credit rule, but not stored"
            )
            self.stdout.write(
                f"drift conversion {conversion.key} of message {conversion.message_id}: {what}"
            )
        scope = f"campaign {campaign}" if campaign else "all campaigns"
        if not drift:
            self.stdout.write(f"No drift: {len(expected)} counters match the event log ({scope}).")
            self.stdout.write(period)
            return
        summary = (
            f"{len(drift.counters)} counters, {len(drift.messages)} messages and "
            f"{len(drift.conversions)} conversions drift ({scope})."
        )
        if fix:
            repair(campaign, drift, expected, drifted)
            self.stdout.write(f"Repaired: {summary}")
            self.stdout.write(period)
            if drift.breaches:
                raise CommandError(
                    f"{len(drift.breaches)} stored events break the status rules; "
                    "recounting cannot repair them.",
                    returncode=1,
                )
            return
        self.stdout.write(summary)
        if drift.breaches:
            self.stdout.write(f"{len(drift.breaches)} stored events break the status rules.")
        self.stdout.write(period)
        raise CommandError(
            "Metrics drift from the event log; run with --fix to repair.", returncode=1
        )
