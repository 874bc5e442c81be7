from django.core.management.base import BaseCommand, CommandError

from campaigns.models import AttributionState, Campaign
from messaging.reattribution import Progress, reattribute_campaign

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Attributes every goal event again (each campaign's credit rule and window), "
        "with progress; conversions and counters move by the difference."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, help="Only this campaign.")
        parser.add_argument(
            "--batch", type=int, default=1000, help="People per transaction (default 1000)."
        )

    def handle(self, *args, campaign=None, batch=1000, **options):
        campaigns = Campaign.objects.order_by("id")
        if campaign is not None:
            campaigns = campaigns.filter(pk=campaign)
            if not campaigns.exists():
                raise CommandError(f"No campaign with id {campaign}.")
        totals = Progress(0, 0, 0)
        for each in campaigns:
            self.stdout.write(f"Campaign {each.id} ({each.name}): {each.attribution_in_words()}")
            progress = reattribute_campaign(each.id, batch=max(1, batch), on_progress=self._bar)
            self.stdout.write(
                f"\r{self._line(progress)}\n  {progress.goals} goal events, "
                f"{progress.added} conversions added, {progress.removed} taken back"
            )
            # A run from the command is complete: the campaign is current again,
            # unless an edit is still waiting for its own run.
            Campaign.objects.filter(
                pk=each.id, attribution_version=each.attribution_version
            ).update(attribution_state=AttributionState.CURRENT)
            totals.goals += progress.goals
            totals.added += progress.added
            totals.removed += progress.removed
        self.stdout.write(
            f"Done: {totals.goals} goal events attributed again, {totals.added} conversions "
            f"added, {totals.removed} taken back."
        )

    def _line(self, progress: Progress) -> str:
        share = progress.done / progress.total if progress.total else 1.0
        filled = round(BAR_WIDTH * share)
        return (
            f"  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%} "
            f"{progress.done}/{progress.total} people"
        )

    def _bar(self, progress: Progress) -> None:
        self.stdout.write(f"\r{self._line(progress)}", ending="")
        self.stdout.flush()
