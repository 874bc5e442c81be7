from django.core.management.base import BaseCommand, CommandError

from messaging.history import PruneRefused, history_prune, parse_month, partitioned


class Command(BaseCommand):
    help = (
        "Drops the event log of every message created before a month (whole partitions on "
        "PostgreSQL), after checking that the counters hold exactly what those events make "
        "and that none of those messages can still change. Their counters stay; they take "
        "no further events."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--before", required=True, help="YYYY-MM: the first month whose history is kept."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and report; drop nothing."
        )

    def handle(self, *args, before, dry_run=False, **options):
        try:
            month = parse_month(before)
            plan = history_prune(before=month, dry_run=dry_run)
        except (ValueError, PruneRefused) as exc:
            raise CommandError(f"Nothing pruned: {exc}", returncode=1) from exc
        verb = "Would drop" if dry_run else "Dropped"
        months = f"{plan.months[0]} .. {plan.months[-1]}" if plan.months else "no month"
        self.stdout.write(
            f"{verb} the history of {plan.messages} messages created before {month:%Y-%m} "
            f"({months}): {plan.events} events. The counters of {len(plan.campaigns)} "
            f"campaigns match their events; {len(plan.contribution)} of them hold what "
            "these messages contributed (recorded for reconcile_metrics)."
        )
        if partitioned():
            for name in plan.partitions:
                self.stdout.write(f"{'would drop' if dry_run else 'dropped'} partition {name}")
        else:
            self.stdout.write(
                "(one table here, not PostgreSQL: the rows were deleted)"
                if not dry_run
                else "(one table here: the rows would be deleted)"
            )
