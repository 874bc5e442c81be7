"""Conversion attribution (DESIGN.md "Converted"): the one module that owns it.

Conversions are derived from the event log like a status. For each goal event
of a person and each campaign whose goal it is, the campaign's credit rule
picks at most one message of that campaign:

- a message's *moments* (when it reached the person, was first opened, first
  clicked) and whether it reached the person at all are judged by the status
  engine from its events other than conversions (so the rule is not
  circular): bounced, failed, suppressed or undeliverable has not reached;
- ``last_reached`` / ``first_reached`` look at the reach moment (delivered
  where the channel reports delivery, sent where it does not),
  ``last_opened`` / ``last_clicked`` at the first open / first click;
- the moment must lie at or before the goal and within the campaign's window;
  ``last_*`` takes the latest moment, ``first_reached`` the earliest (ties:
  the lower message id first / the higher one last);
- only channels that track conversions take part.

``attribute`` is that rule as a pure function. The stored conversions are
``converted`` events in each credited message's log, keyed ``goal:<person
id>:<event id>``; ``rewrite`` (messaging.conversions) brings them in line with
the rule for a set of people — when a goal event arrives, when ingest changes
a message's moments (a late delivery, an asynchronous bounce), and when a
campaign's goal, rule or window is edited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from campaigns import channels
from campaigns.metrics import reached_milestone
from campaigns.models import AttributionRule
from campaigns.vocabulary import EventType
from messaging.status import EventFact, compute_state

# A message whose status (without conversions) is one of these never reached
# the person.
NOT_REACHED = frozenset(
    {EventType.BOUNCED, EventType.FAILED, EventType.SUPPRESSED, EventType.UNDELIVERABLE}
)
GOAL_KEY_PREFIX = "goal:"

# The moment each rule looks at, and whether it credits the latest one.
RULE_MOMENT: dict[str, str] = {
    AttributionRule.LAST_REACHED: "reached",
    AttributionRule.FIRST_REACHED: "reached",
    AttributionRule.LAST_OPENED: "opened",
    AttributionRule.LAST_CLICKED: "clicked",
}
RULE_TAKES_LATEST: dict[str, bool] = {
    AttributionRule.LAST_REACHED: True,
    AttributionRule.FIRST_REACHED: False,
    AttributionRule.LAST_OPENED: True,
    AttributionRule.LAST_CLICKED: True,
}

CONVERTING_CHANNELS = frozenset(
    channel for channel in channels.CAPABILITIES if channels.tracks(channel, channels.CONVERTED)
)


@dataclass(frozen=True, slots=True)
class Moments:
    """What the credit rules read of one message that reached the person."""

    reached: datetime
    opened: datetime | None
    clicked: datetime | None

    def of(self, moment: str) -> datetime | None:
        return getattr(self, moment)


@dataclass(frozen=True, slots=True)
class Candidate:
    message_id: int
    campaign_id: int
    moments: Moments | None  # None: never reached the person


@dataclass(frozen=True, slots=True)
class Goal:
    """One goal event of a person (a PersonEvent)."""

    id: int
    name: str
    occurred_at: datetime
    key: str  # the idempotency key of the conversions it makes


@dataclass(frozen=True, slots=True)
class CampaignGoal:
    id: int
    event: str  # "" = no goal
    rule: str
    window_hours: int


def goal_key(person_id: int, event_id: str) -> str:
    return f"{GOAL_KEY_PREFIX}{person_id}:{event_id}"[:255]


def goal_event_id(key: str) -> str | None:
    """The goal event's id a conversion's key names (goal_key's inverse),
    None for a key goal_key did not make."""
    if not key.startswith(GOAL_KEY_PREFIX) or key.count(":") < 2:
        return None
    return key.split(":", 2)[2]


def is_attributed(fact: EventFact) -> bool:
    """A conversion that attribution made (and may take back)."""
    return fact.type == EventType.CONVERTED and fact.key.startswith(GOAL_KEY_PREFIX)


def moments_of(channel: str, facts: Iterable[EventFact], *, opens: bool = True) -> Moments | None:
    """The message's moments, judged by the status engine from its events
    other than conversions; None when it has not reached the person. ``opens``
    is the action's open-tracking switch (off: no open moment)."""
    if channel not in CONVERTING_CHANNELS:
        return None
    state = compute_state(
        channel, [fact for fact in facts if fact.type != EventType.CONVERTED], opens=opens
    )
    if state.status is None or state.status in NOT_REACHED:
        return None
    reached = state.at(reached_milestone(channel))
    if reached is None:
        return None
    return Moments(reached=reached, opened=state.at("opened"), clicked=state.at("clicked"))


def attribute(
    goals: Iterable[Goal],
    campaigns: Mapping[int, CampaignGoal],
    candidates: Sequence[Candidate],
) -> dict[tuple[int, int], int]:
    """One person's conversions: (goal id, campaign id) -> the credited
    message id, for every goal event and campaign whose goal it is."""
    by_campaign: dict[int, list[Candidate]] = {}
    for candidate in candidates:
        if candidate.moments is not None:
            by_campaign.setdefault(candidate.campaign_id, []).append(candidate)
    credited: dict[tuple[int, int], int] = {}
    for goal in goals:
        for campaign_id, found in by_campaign.items():
            campaign = campaigns.get(campaign_id)
            if campaign is None or not campaign.event or campaign.event != goal.name:
                continue
            message_id = _pick(goal, campaign, found)
            if message_id is not None:
                credited[(goal.id, campaign_id)] = message_id
    return credited


def _pick(goal: Goal, campaign: CampaignGoal, candidates: Sequence[Candidate]) -> int | None:
    moment_name = RULE_MOMENT[campaign.rule]
    latest = RULE_TAKES_LATEST[campaign.rule]
    window = timedelta(hours=campaign.window_hours)
    best: tuple[datetime, int] | None = None
    for candidate in candidates:
        moment = candidate.moments.of(moment_name)
        if moment is None or moment > goal.occurred_at or goal.occurred_at - moment > window:
            continue
        key = (moment, candidate.message_id)
        if best is None or (key > best if latest else key < best):
            best = key
    return best[1] if best else None


def campaign_goal(campaign) -> CampaignGoal:
    return CampaignGoal(
        id=campaign.id,
        event=campaign.conversion_event,
        rule=campaign.attribution_rule,
        window_hours=campaign.conversion_window_hours,
    )
