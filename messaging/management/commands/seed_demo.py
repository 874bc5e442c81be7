"""seed_demo: demo people and campaigns on all six channels, with a two-week
history produced by the simulated providers.

Every step goes through the real pipeline (messages_create, messages_send)
and the simulated providers' callbacks through the real parsers and
ingestion, on a virtual timeline that ends now: events the simulation dates
after now have not happened yet and are left out. Deterministic for a seed
(on an empty database).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from campaigns.services import action_create, campaign_create
from campaigns.vocabulary import Channel
from messaging.audience.suppression import suppression_add
from messaging.models import Message, Person
from messaging.sending import messages_create, messages_send
from messaging.sending.simulator import Simulator, callbacks_deliver

FIRST_NAMES = (
    "Ada", "Ben", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kemi", "Lucía", "Mateo", "Noor", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoé",
)  # fmt: skip
CITIES = ("Lisbon", "Berlin", "Austin", "Osaka", "Nairobi", "Toronto", "Lyon", "Melbourne")
PLANS = ("free", "free", "free", "pro", "pro", "team")

LAUNCH_HTML = """<html><body>
<p>Hi {{ first_name|there }},</p>
<p>Tidings 2 is here: every message, from send to conversion.
<a href="https://example.com/launch?utm_source=email">See what's new</a>
or <a href="https://example.com/pricing">compare plans</a>.</p>
<p>— The Tidings team</p>
</body></html>"""


# Recipients spread over the mailbox providers roughly as a consumer list is
# (the deliverability section breaks email down by them); by the person's
# number, so the seeded random sequence stays as it was.
_DEMO_DOMAINS = (
    *("gmail.com",) * 9,
    *("outlook.com", "hotmail.com", "live.co.uk"),
    *("yahoo.com", "aol.com"),
    *("icloud.com", "me.com"),
    *("example.com",) * 4,
)


def _demo_domain(n: int) -> str:
    return _DEMO_DOMAINS[(n * 7) % len(_DEMO_DOMAINS)]


@dataclass(frozen=True)
class Step:
    campaign: str
    name: str
    channel: str
    day: float  # days after the start of the history
    share: float  # of the people who get it
    body: str
    subject: str = ""
    target: str = ""
    send_as_draft: bool = False
    track_opens: bool = True


CAMPAIGNS = {
    # name: (conversion event, window in hours)
    "Spring launch": ("purchase", 168),
    "Onboarding": ("activated", 72),
    "Win-back": ("purchase", 336),
    "Team alerts": ("", 168),
}

STEPS = (
    Step("Onboarding", "Welcome email", Channel.EMAIL, 0.3, 0.35,
         "Welcome, {{ first_name|friend }}! Start here: https://example.com/start "
         "and read the guide at https://example.com/guide",
         subject="Welcome to Tidings, {{ first_name|friend }}"),
    Step("Onboarding", "Tips push", Channel.PUSH, 1.5, 0.3,
         "Three tips to get going: https://example.com/tips"),
    Step("Spring launch", "Launch email", Channel.EMAIL, 3.0, 0.9, LAUNCH_HTML,
         subject="{{ first_name|Hello }}, Tidings 2 is here"),
    Step("Team alerts", "Launch room post", Channel.SLACK, 3.0, 0.05,
         "Launch email is out: https://example.com/dashboards/launch", target="#launch-room"),
    Step("Spring launch", "Launch SMS", Channel.SMS, 4.0, 0.6,
         "Tidings 2 is live! 20% off this week: https://example.com/offer"),
    Step("Team alerts", "CRM webhook", Channel.WEBHOOK, 4.0, 0.05,
         '{"event": "launch", "details": "https://example.com/api/launch"}',
         target="https://hooks.example.com/tidings"),
    Step("Spring launch", "Launch day push", Channel.PUSH, 5.0, 0.5,
         "Last day for 20% off: https://example.com/offer"),
    Step("Onboarding", "Check-in email", Channel.EMAIL, 7.0, 0.3,
         "How is it going, {{ first_name|there }}? Book a call: https://example.com/call",
         subject="Quick check-in", track_opens=False),
    Step("Win-back", "Airship come-back push", Channel.AIRSHIP, 9.0, 0.4,
         "We miss you — here is a month on us."),
    Step("Win-back", "Win-back email", Channel.EMAIL, 10.5, 0.4,
         "<p>Come back, {{ first_name|friend }}: "
         '<a href="https://example.com/winback">claim your month</a></p>',
         subject="A month on us"),
    Step("Spring launch", "Follow-up SMS", Channel.SMS, 12.0, 0.3,
         "Still thinking about it? https://example.com/offer"),
    Step("Win-back", "Final offer (draft)", Channel.EMAIL, 13.5, 0.02,
         "<p>Final offer, {{ first_name|friend }}: "
         '<a href="https://example.com/final">50% off</a></p>',
         subject="Final offer", send_as_draft=True),
)  # fmt: skip

SIMULATED = dict.fromkeys((channel.value for channel in Channel), "simulated")
CHUNK = 100


class Command(BaseCommand):
    help = "Loads demo people and campaigns on all six channels with a two-week history."

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=1000, help="How many people.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed.")

    def handle(self, *args, people: int = 1000, seed: int = 1, **options):
        if people < 1:
            raise CommandError("--people must be at least 1.")
        started = time.monotonic()
        now = timezone.now().replace(microsecond=0)
        start = now - timedelta(days=14)
        rng = random.Random(seed)
        self.progress = _Progress(self.stdout, total=len(STEPS) + 1)

        audience = self._people(people, seed, rng)
        self.progress.step(f"{len(audience)} people")
        # Two addresses an admin suppressed by hand before the history starts.
        for person in audience[:2]:
            if person.email:
                suppression_add(address=person.email, note="asked by phone not to be emailed")

        campaigns = {
            name: campaign_create(name=name, conversion_event=goal, conversion_window_hours=window)
            for name, (goal, window) in CAMPAIGNS.items()
        }
        simulator = Simulator(seed=seed, speed=1.0, virtual=True, horizon=now, collect=[])
        totals = {"messages": 0, "events": 0}
        with override_settings(TIDINGS_PROVIDER_BY_CHANNEL=SIMULATED):
            for step in STEPS:
                count = self._run_step(step, campaigns, audience, start, rng, simulator)
                totals["messages"] += count
                self.progress.step(f"{step.channel:8} {step.name} ({count} messages)")
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Demo loaded: {len(audience)} people, {len(campaigns)} campaigns, "
            f"{len(STEPS)} actions on all six channels, {totals['messages']} messages "
            f"over two weeks, in {elapsed:.1f}s."
        )

    def _people(self, count: int, seed: int, rng: random.Random) -> list[Person]:
        rows = []
        for n in range(count):
            first = rng.choice(FIRST_NAMES)
            handle = f"{first.lower()}.{n:05d}".replace("é", "e").replace("í", "i")
            rows.append(
                Person(
                    external_id=f"demo-{seed}-{n:05d}",
                    # A few people lack an address for a channel: their
                    # messages become undeliverable with that reason.
                    email=f"{handle}@{_demo_domain(n)}" if rng.random() > 0.03 else "",
                    phone=f"+1555{rng.randrange(10**7):07d}" if rng.random() > 0.15 else "",
                    push_token=f"fcm-{rng.getrandbits(64):016x}" if rng.random() > 0.35 else "",
                    attributes={
                        "first_name": first,
                        "city": rng.choice(CITIES),
                        "plan": rng.choice(PLANS),
                    },
                )
            )
        Person.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        ids = [row.external_id for row in rows]
        by_external_id = Person.objects.in_bulk(ids, field_name="external_id")
        return [by_external_id[external_id] for external_id in ids]

    def _run_step(
        self,
        step: Step,
        campaigns: dict,
        audience: list[Person],
        start: datetime,
        rng: random.Random,
        simulator: Simulator,
    ) -> int:
        action = action_create(
            campaign=campaigns[step.campaign],
            name=step.name,
            channel=step.channel,
            subject=step.subject,
            body=step.body,
            target=step.target,
            send_as_draft=step.send_as_draft,
            track_opens=step.track_opens,
        )
        if step.channel in (Channel.SLACK, Channel.WEBHOOK):
            # A team channel or endpoint: one message per teammate notified.
            chosen = audience[: max(1, int(len(audience) * step.share))][:40]
        else:
            chosen = [person for person in audience if rng.random() < step.share]
        send_at = start + timedelta(days=step.day)
        # People unsubscribed or deleted since (the simulation marks them) are
        # re-read so the pre-send checks see today's state.
        fresh = Person.objects.in_bulk([person.id for person in chosen])
        chosen = [fresh[person.id] for person in chosen]
        created: list[Message] = []
        for offset in range(0, len(chosen), 1000):
            with transaction.atomic():
                created += messages_create(
                    action=action,
                    people=chosen[offset : offset + 1000],
                    now=send_at,
                    backdate=True,
                )
        if step.send_as_draft:
            return len(created)
        # The send goes out over about an hour, chunk by chunk, as workers
        # would take it; transient errors are retried with backoff.
        ids = [message.id for message in created]
        spread = 3600 / max(1, len(ids) / CHUNK)
        for number, offset in enumerate(range(0, len(ids), CHUNK)):
            moment = send_at + timedelta(seconds=number * spread + 1)
            self._send_chunk(ids[offset : offset + CHUNK], moment, simulator)
        pending = simulator.collect
        simulator.collect = []
        callbacks_deliver(pending)
        return len(created)

    def _send_chunk(self, ids: list[int], moment: datetime, simulator: Simulator) -> None:
        tries = 0
        while ids:
            report = messages_send(
                message_ids=ids,
                tries=tries,
                clock=lambda moment=moment: moment,
                simulator=simulator,
                enqueue_retries=False,
            )
            ids = report.retry_ids
            tries += 1
            moment += timedelta(seconds=report.retry_countdown)


class _Progress:
    WIDTH = 30

    def __init__(self, stdout, total: int):
        self.stdout = stdout
        self.total = total
        self.done = 0

    def step(self, label: str) -> None:
        self.done += 1
        filled = round(self.WIDTH * self.done / self.total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stdout.write(f"[{bar}] {self.done:>2}/{self.total} {label}")
