"""Simulated providers: what SendGrid, Twilio, FCM, Slack, an HTTP endpoint
and Airship would answer, and the callbacks they would send afterwards.

Answers are synchronous (PROVIDERS.md §7-8: push, Slack and webhook results
are known from the send call). Callbacks are built in the provider's real
webhook format — a signed SendGrid JSON array for email, signed Twilio form
posts for SMS — then verified against the configured secret and run through
the provider's parser and messaging.ingest.apply_events, the code path of a
real webhook. What recipients do on channels without provider callbacks goes
the way it would in production: clicks through our tracked links, push opens
as the SDK reports them, conversions as the customer's goal events.

Everything is drawn from a random generator seeded by (seed, the message's
stable key, purpose), so a seed gives the same history whatever the row ids;
the stable key names the idempotency key sent, so a key sent again gets the
answer it got before, as from a provider that honours keys.
Delays are in virtual seconds. Eagerly (no broker) callbacks are dated on a
virtual timeline — send time + delay / speed — and applied at once; with a
worker they are scheduled as tasks ``delay / speed`` real seconds later and
dated when they run. The demo uses speed 1 and a horizon (its "now").
"""

from __future__ import annotations

import base64
import logging
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from campaigns.links import links_from_body
from campaigns.models import Action, Link
from campaigns.vocabulary import Channel
from messaging.sending.backends import Outcome, SendRequest, SendResult
from messaging.sending.simulated_callbacks import callbacks_deliver
from messaging.tracking.tokens import open_pixel_url

logger = logging.getLogger(__name__)

HOUR = 3600.0
DAY = 24 * HOUR

# Rates are fractions of the messages that reach that stage; delays are
# medians in virtual seconds (log-normal spread). Override any of them per
# channel with TIDINGS_SIMULATOR_RATES, e.g. {"email": {"open": 0.5}}.
DEFAULT_PROFILES: dict[str, dict[str, float]] = {
    Channel.EMAIL: {
        "transient_error": 0.003,
        "dropped": 0.003,  # SendGrid's own suppression list → suppressed
        "hard_bounce": 0.015,
        "soft_bounce": 0.01,
        "deferred": 0.03,  # delayed, then delivered
        "open": 0.42,
        "repeat_open": 0.3,
        "machine_open": 0.08,
        "click": 0.25,  # of openers
        "spam": 0.001,
        "unsubscribe": 0.004,
        "convert": 0.05,
        "open_delay": 2 * HOUR,
        "click_delay": 90,
        "convert_delay": DAY,
    },
    Channel.SMS: {
        "transient_error": 0.003,
        "hard_bounce": 0.01,  # undelivered 30005/30006
        "soft_bounce": 0.02,  # undelivered 30003/30008
        "failed_later": 0.008,  # failed 30007, or 21610 opted out
        "click": 0.08,
        "convert": 0.03,
        "click_delay": 15 * 60,
        "convert_delay": DAY,
    },
    Channel.PUSH: {
        "transient_error": 0.005,  # FCM UNAVAILABLE
        "gone": 0.03,  # FCM UNREGISTERED → undeliverable
        "rejected": 0.002,  # FCM INVALID_ARGUMENT → failed
        "open": 0.18,
        "click": 0.3,  # of openers
        "convert": 0.03,
        "open_delay": 40 * 60,
        "click_delay": 30,
        "convert_delay": 12 * HOUR,
    },
    Channel.SLACK: {
        "transient_error": 0.01,  # 429 ratelimited
        "gone": 0.0,  # channel_not_found (a target naming "archived" is is_archived)
        "rejected": 0.0,
        "click": 0.12,
        "click_delay": HOUR,
    },
    Channel.WEBHOOK: {
        "transient_error": 0.01,  # 5xx / timeout
        "rejected": 0.003,  # 410 Gone
        "click": 0.05,
        "click_delay": HOUR,
    },
    Channel.AIRSHIP: {
        "transient_error": 0.005,
        "rejected": 0.005,  # SEND_REJECTED
        "convert": 0.04,
        "convert_delay": 12 * HOUR,
    },
}

BOT_USER_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
)


def profile(channel: str) -> dict[str, float]:
    overrides = settings.TIDINGS_SIMULATOR_RATES.get(str(channel), {})
    return {**DEFAULT_PROFILES[channel], **overrides}


@dataclass
class Simulator:
    seed: int = 0
    speed: float = 1.0  # virtual seconds per real second
    virtual: bool = True  # date and apply callbacks now, on a virtual timeline
    horizon: datetime | None = None  # callbacks dated later never happen (the demo's "now")
    # Callbacks produced in virtual mode are kept here instead of applied when
    # set (the demo applies a whole step's callbacks in one batch).
    collect: list[dict] | None = None
    profiles: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls) -> Simulator:
        return cls(
            seed=settings.TIDINGS_SIMULATOR_SEED,
            speed=float(settings.TIDINGS_SIMULATOR_SPEED),
            virtual=bool(settings.CELERY_TASK_ALWAYS_EAGER),
        )

    def profile(self, channel: str) -> dict[str, float]:
        if channel not in self.profiles:
            self.profiles[channel] = profile(channel)
        return self.profiles[channel]

    def rng(self, request: SendRequest, purpose: str) -> random.Random:
        key = request.stable_key or request.idempotency_key
        return random.Random(f"{self.seed}|{key}|{purpose}")

    # --- the synchronous answer ---------------------------------------------

    def answer(self, request: SendRequest) -> SendResult:
        p = self.profile(request.channel)
        # A transient error may come and go from call to call; what the
        # provider decides about the message is the key's, whichever call
        # asks (a key it accepted is never refused on a later call).
        transient = self.rng(request, f"answer:{request.tries}")
        rng = self.rng(request, "answer")
        ids = self.rng(request, "ids")
        channel = request.channel
        provider = f"simulated-{PROVIDER_NAMES[channel]}"

        def result(outcome: str, provider_message_id: str = "", reason: str = "", **detail):
            return SendResult(
                message_id=request.message_id,
                outcome=outcome,
                provider=provider,
                provider_message_id=provider_message_id,
                reason=reason,
                detail=detail,
            )

        if transient.random() < p.get("transient_error", 0):
            return result(Outcome.RETRY, reason=TRANSIENT_ERRORS[channel])
        if channel == Channel.EMAIL:
            payload = sendgrid_mail_send_payload(request)
            if "@" not in payload["personalizations"][0]["to"][0]["email"]:
                return result(
                    Outcome.FAILED, reason="SendGrid 400: does not contain a valid address"
                )
            return result(Outcome.SENT, _b64(ids, 16)[:22])
        if channel == Channel.SMS:
            if not request.address.startswith("+"):
                return result(Outcome.FAILED, reason="Twilio 21211 invalid 'To' number")
            return result(Outcome.SENT, "SM" + _hex(ids, 16))
        if channel == Channel.PUSH:
            draw = rng.random()
            if draw < p.get("gone", 0):
                return result(
                    Outcome.UNDELIVERABLE,
                    reason="FCM UNREGISTERED: the registration token is no longer valid",
                )
            if draw < p.get("gone", 0) + p.get("rejected", 0):
                return result(Outcome.FAILED, reason="FCM INVALID_ARGUMENT: message is too big")
            name = f"projects/tidings-demo/messages/0:{ids.getrandbits(52)}%{_hex(ids, 8)}"
            return result(Outcome.SENT, name)
        if channel == Channel.SLACK:
            draw = rng.random()
            if "archived" in request.address.lower():
                return result(Outcome.UNDELIVERABLE, reason="Slack is_archived")
            if draw < p.get("gone", 0):
                return result(Outcome.UNDELIVERABLE, reason="Slack channel_not_found")
            if draw < p.get("gone", 0) + p.get("rejected", 0):
                return result(Outcome.FAILED, reason="Slack msg_too_long")
            ts = f"{1_700_000_000 + ids.randrange(10**8)}.{ids.randrange(10**6):06d}"
            return result(Outcome.SENT, f"C{_hex(ids, 5).upper()}/{ts}", ok=True)
        if channel == Channel.WEBHOOK:
            if rng.random() < p.get("rejected", 0):
                return result(Outcome.FAILED, reason="HTTP 410 Gone", status=410)
            return result(Outcome.SENT, f"msg_{_hex(ids, 12)}", status=200)
        # Airship
        if rng.random() < p.get("rejected", 0):
            return result(Outcome.FAILED, reason="Airship SEND_REJECTED")
        return result(Outcome.SENT, str(uuid.UUID(int=ids.getrandbits(128), version=4)))

    # --- what happens afterwards -----------------------------------------------

    def plan(self, request: SendRequest, answer: SendResult, context: PlanContext) -> list[dict]:
        """The callbacks and recipient actions that follow a sent message, each
        {"kind", "message_id", "delay" (virtual seconds after the send), …}."""
        if answer.outcome != Outcome.SENT:
            return []
        rng = self.rng(request, "after")
        p = self.profile(request.channel)
        planner = _Planner(request, answer, rng, p, context)
        return PLANNERS[request.channel](planner)

    def dispatch(self, callbacks: list[dict], *, sent_at: datetime) -> None:
        if not callbacks:
            return
        if self.virtual:
            dated = []
            for callback in callbacks:
                at = sent_at + timedelta(seconds=callback["delay"] / self.speed)
                if self.horizon is not None and at > self.horizon:
                    continue
                dated.append({**callback, "at": at.isoformat()})
            if self.collect is not None:
                self.collect.extend(dated)
            else:
                callbacks_deliver(dated)
            return
        # With a worker: a few tasks per chunk, grouped by when they are due.
        from messaging.sending.tasks import deliver_simulated_callbacks

        due: dict[int, list[dict]] = defaultdict(list)
        for callback in callbacks:
            due[_bucket(callback["delay"] / self.speed)].append(callback)
        for countdown, group in sorted(due.items()):
            deliver_simulated_callbacks.apply_async(args=[group], countdown=countdown)


def sendgrid_mail_send_payload(request: SendRequest) -> dict[str, Any]:
    """The body of the SendGrid v3 ``POST /v3/mail/send`` call that sends this
    message: the recipient, our ids as ``custom_args`` (they come back on
    every event), the content, and the message's headers (List-Unsubscribe,
    List-Unsubscribe-Post). SendGrid sends ``headers`` as the message's own
    headers; the simulated provider reads the call from this payload."""
    return {
        "personalizations": [
            {
                "to": [{"email": request.address}],
                "custom_args": {
                    "tidings_message_id": str(request.message_id),
                    "tidings_attempt": str(request.attempt),
                },
            }
        ],
        "from": {"email": settings.DEFAULT_FROM_EMAIL},
        "subject": request.subject,
        "content": [{"type": "text/html", "value": request.body}],
        "headers": dict(request.headers),
    }


PROVIDER_NAMES = {
    Channel.EMAIL: "sendgrid",
    Channel.SMS: "twilio",
    Channel.PUSH: "fcm",
    Channel.SLACK: "slack",
    Channel.WEBHOOK: "webhook",
    Channel.AIRSHIP: "airship",
}
TRANSIENT_ERRORS = {
    Channel.EMAIL: "SendGrid 503 Service Unavailable",
    Channel.SMS: "Twilio 503 Service Unavailable",
    Channel.PUSH: "FCM UNAVAILABLE (503)",
    Channel.SLACK: "Slack 429 ratelimited",
    Channel.WEBHOOK: "HTTP 503 from the endpoint",
    Channel.AIRSHIP: "Airship 503 Service Unavailable",
}
_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)


def _bucket(seconds: float) -> int:
    for bucket in _BUCKETS:
        if seconds <= bucket:
            return bucket
    return math.ceil(seconds / 3600) * 3600


def _b64(rng: random.Random, size: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(size)).decode().rstrip("=")


def _hex(rng: random.Random, size: int) -> str:
    return rng.randbytes(size).hex()


@dataclass
class PlanContext:
    """What the planners need about the messages of a batch (loaded once)."""

    links: dict[int, list[Link]]  # action id → its tracked links
    goals: dict[int, str]  # action id → its campaign's conversion event ("" for none)
    windows: dict[int, float]  # action id → conversion window in seconds
    bodies: dict[int, str]  # message id → rendered body
    # Action ids whose open tracking is off: no pixel, and the provider's own
    # open tracking is off too, so nobody sees the opens.
    opens_off: frozenset[int] = frozenset()


def plan_context(requests: Sequence[SendRequest]) -> PlanContext:
    action_ids = {request.action_id for request in requests}
    links: dict[int, list[Link]] = defaultdict(list)
    for link in Link.objects.filter(action_id__in=action_ids).order_by("position"):
        links[link.action_id].append(link)
    goals, windows, opens_off = {}, {}, set()
    for action_id, goal, window, opens in Action.objects.filter(id__in=action_ids).values_list(
        "id", "campaign__conversion_event", "campaign__conversion_window_hours", "track_opens"
    ):
        goals[action_id] = goal
        windows[action_id] = window * HOUR
        if not opens:
            opens_off.add(action_id)
    return PlanContext(
        links=links,
        goals=goals,
        windows=windows,
        bodies={request.message_id: request.body for request in requests},
        opens_off=frozenset(opens_off),
    )


class _Planner:
    def __init__(self, request, answer, rng, p, context: PlanContext):
        self.request = request
        self.answer = answer
        self.rng = rng
        self.p = p
        self.context = context
        self.out: list[dict] = []
        self.serial = 0

    def chance(self, name: str) -> bool:
        return self.rng.random() < self.p.get(name, 0)

    def later(self, median: float, sigma: float = 1.0) -> float:
        return min(median * math.exp(self.rng.gauss(0, sigma)), 12 * DAY)

    def add(self, kind: str, delay: float, **data: Any) -> None:
        self.serial += 1
        self.out.append(
            {
                "kind": kind,
                "message_id": self.request.message_id,
                # Comes back from the provider beside our message id.
                "tidings_attempt": str(self.request.attempt),
                "delay": round(delay, 3),
                "id": f"{self.answer.provider_message_id}:{self.serial}",
                **data,
            }
        )

    @property
    def links(self) -> list[Link]:
        return self.context.links.get(self.request.action_id, [])

    def click_target(self) -> dict:
        links = self.links
        if links:
            link = links[min(int(self.rng.expovariate(1.2)), len(links) - 1)]
            return {"link_id": link.id, "url": link.url}
        urls = links_from_body(self.context.bodies.get(self.request.message_id, ""))
        return {"link_id": None, "url": self.rng.choice(urls)} if urls else {}

    def goal(self, reached: float) -> None:
        name = self.context.goals.get(self.request.action_id)
        if not name or not self.chance("convert"):
            return
        delay = reached + min(
            self.later(self.p["convert_delay"]),
            self.context.windows.get(self.request.action_id, 7 * DAY),
        )
        self.add("goal", delay, person_id=self.request.person_id, name=name)


def _plan_email(pl: _Planner) -> list[dict]:
    address = pl.request.address
    pixel = open_pixel_url(pl.request.message_id) in pl.context.bodies.get(
        pl.request.message_id, ""
    )

    def sendgrid_event(name: str, delay: float, **fields: Any) -> None:
        pl.add("sendgrid", delay, event=name, email=address, **fields)

    sendgrid_event("processed", pl.rng.uniform(0.2, 2))
    draw = pl.rng.random()
    p = pl.p
    if draw < p["dropped"]:
        sendgrid_event("dropped", pl.rng.uniform(1, 3), reason="Bounced Address")
        return pl.out
    draw -= p["dropped"]
    if draw < p["hard_bounce"]:
        sendgrid_event(
            "bounce",
            pl.rng.uniform(3, 90),
            type="bounce",
            status="5.1.1",
            reason="550 5.1.1 The email account that you tried to reach does not exist.",
            bounce_classification="Invalid Address",
        )
        return pl.out
    draw -= p["hard_bounce"]
    if draw < p["soft_bounce"]:
        sendgrid_event(
            "bounce",
            pl.rng.uniform(60, 1800),
            type="blocked",
            status="4.7.0",
            reason="421 4.7.0 Try again later, closing connection.",
            bounce_classification="Reputation",
        )
        return pl.out
    if pl.chance("deferred"):
        sendgrid_event(
            "deferred",
            pl.rng.uniform(30, 300),
            response="451 4.4.1 mailbox temporarily unavailable",
            attempt="1",
        )
        delivered = pl.rng.uniform(900, 3 * HOUR)
    else:
        delivered = pl.rng.uniform(2, 40)
    sendgrid_event("delivered", delivered, response="250 2.0.0 OK")
    # With open tracking off nobody reports an open (the draws still happen,
    # so everything else is planned as it would be).
    seen = pl.request.action_id not in pl.context.opens_off

    if pl.chance("machine_open") and seen:
        # Apple Mail Privacy Protection and image proxies fetch right away.
        if pixel:
            pl.add("pixel", delivered + pl.rng.uniform(1, 120), user_agent=BOT_USER_AGENT)
        else:
            sendgrid_event(
                "open",
                delivered + pl.rng.uniform(1, 120),
                sg_machine_open=True,
                useragent="Mozilla/5.0",
                ip="17.58.0.1",
            )
    if pl.chance("open"):
        opened = delivered + pl.later(p["open_delay"], 1.3)
        opens = [opened]
        while pl.chance("repeat_open") and len(opens) < 5:
            opens.append(opens[-1] + pl.later(6 * HOUR))
        for moment in opens:
            agent = pl.rng.choice(USER_AGENTS)
            if not seen:
                continue
            if pixel:
                pl.add("pixel", moment, user_agent=agent)
            else:
                sendgrid_event(
                    "open",
                    moment,
                    sg_machine_open=False,
                    useragent=agent,
                    ip=f"203.0.113.{pl.rng.randrange(1, 255)}",
                )
        if pl.chance("click"):
            target = pl.click_target()
            if target:
                clicked = opened + pl.later(p["click_delay"])
                if target["link_id"] is not None:
                    pl.add("click", clicked, **target, user_agent=pl.rng.choice(USER_AGENTS))
                else:
                    sendgrid_event(
                        "click",
                        clicked,
                        url=target["url"],
                        url_offset={"index": 0, "type": "html"},
                        useragent=pl.rng.choice(USER_AGENTS),
                    )
        pl.goal(opened)
    if pl.chance("spam"):
        sendgrid_event("spamreport", delivered + pl.later(DAY))
    elif pl.chance("unsubscribe"):
        sendgrid_event("unsubscribe", delivered + pl.later(DAY))
    return pl.out


def _plan_sms(pl: _Planner) -> list[dict]:
    def status(name: str, delay: float, code: str = "") -> None:
        pl.add("twilio", delay, status=name, error_code=code, to=pl.request.address)

    status("sent", pl.rng.uniform(0.5, 3))
    draw = pl.rng.random()
    p = pl.p
    if draw < p["hard_bounce"]:
        status("undelivered", pl.rng.uniform(5, 120), pl.rng.choice(("30005", "30006")))
        return pl.out
    draw -= p["hard_bounce"]
    if draw < p["soft_bounce"]:
        status("undelivered", pl.rng.uniform(5, 600), pl.rng.choice(("30003", "30008")))
        return pl.out
    draw -= p["soft_bounce"]
    if draw < p["failed_later"]:
        status("failed", pl.rng.uniform(2, 30), pl.rng.choice(("30007", "21610")))
        return pl.out
    delivered = pl.rng.uniform(3, 60)
    status("delivered", delivered)
    if pl.chance("click"):
        target = pl.click_target()
        if target and target["link_id"] is not None:
            clicked = delivered + pl.later(p["click_delay"])
            pl.add("click", clicked, **target, user_agent=pl.rng.choice(USER_AGENTS))
    pl.goal(delivered)
    return pl.out


def _plan_push(pl: _Planner) -> list[dict]:
    if pl.chance("open"):
        opened = pl.later(pl.p["open_delay"], 1.2)
        pl.add("push_open", opened)
        if pl.chance("click"):
            target = pl.click_target()
            if target and target["link_id"] is not None:
                pl.add(
                    "click",
                    opened + pl.later(pl.p["click_delay"]),
                    **target,
                    user_agent=pl.rng.choice(USER_AGENTS),
                )
        pl.goal(opened)
    else:
        pl.goal(pl.rng.uniform(1, 60))
    return pl.out


def _plan_clicks_only(pl: _Planner) -> list[dict]:
    if pl.chance("click"):
        target = pl.click_target()
        if target and target["link_id"] is not None:
            pl.add(
                "click",
                pl.later(pl.p["click_delay"], 1.2),
                **target,
                user_agent=pl.rng.choice(USER_AGENTS),
            )
    return pl.out


def _plan_airship(pl: _Planner) -> list[dict]:
    pl.goal(pl.rng.uniform(1, 120))
    return pl.out


PLANNERS = {
    Channel.EMAIL: _plan_email,
    Channel.SMS: _plan_sms,
    Channel.PUSH: _plan_push,
    Channel.SLACK: _plan_clicks_only,
    Channel.WEBHOOK: _plan_clicks_only,
    Channel.AIRSHIP: _plan_airship,
}
