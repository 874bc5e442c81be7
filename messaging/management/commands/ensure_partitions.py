from django.core.management.base import BaseCommand

from messaging.history import AHEAD_MONTHS, partitioned, partitions, partitions_ensure


class Command(BaseCommand):
    help = (
        "Creates the event log's monthly partitions for this month and the next ones "
        "(the sweeper does the same every run); lists the partitions."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--ahead",
            type=int,
            default=AHEAD_MONTHS,
            help=f"Months after the current one (default {AHEAD_MONTHS}).",
        )

    def handle(self, *args, ahead=AHEAD_MONTHS, **options):
        if not partitioned():
            self.stdout.write("The event log is one table here (not PostgreSQL): no partitions.")
            return
        for name in partitions_ensure(ahead=max(ahead, 0)):
            self.stdout.write(f"created {name}")
        months = sorted(partitions())
        self.stdout.write(
            f"{len(months)} monthly partitions: {months[0]:%Y-%m} .. {months[-1]:%Y-%m}."
            if months
            else "No monthly partitions."
        )
