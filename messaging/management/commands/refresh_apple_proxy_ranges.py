from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from messaging.tracking import apple_mpp


class Command(BaseCommand):
    help = (
        "Replaces Apple Mail Privacy Protection's proxy ranges (opens from them are machine "
        "opens) with those of a file in Apple's egress-ip-ranges.csv format."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", help="A copy of Apple's egress-ip-ranges.csv (or one prefix a line)."
        )
        parser.add_argument(
            "--output",
            help="Where to write the ranges (default: TIDINGS_APPLE_PROXY_RANGES_FILE, else the "
            "file shipped with the app).",
        )

    def handle(self, *args, path, output=None, **options):
        source = Path(path)
        try:
            with source.open(encoding="utf-8") as handle:
                networks = apple_mpp.parse_ranges(handle)
        except OSError as error:
            raise CommandError(f"Cannot read {source}: {error.strerror or error}") from None
        except apple_mpp.RangesError as error:
            raise CommandError(f"{source}: {error}; nothing changed.") from None
        if not networks:
            raise CommandError(f"{source} holds no IP prefix; nothing changed.")
        target = Path(output) if output else apple_mpp.ranges_path()
        apple_mpp.write_ranges(networks, target, source=source.name)
        v4 = sum(1 for network in networks if network.version == 4)
        self.stdout.write(
            f"Wrote {len(networks)} ranges ({v4} IPv4, {len(networks) - v4} IPv6) to {target}."
        )
