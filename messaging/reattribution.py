"""Re-attribution of whole campaigns: after an edit of the goal, credit rule
or window (a Celery task with progress), from ``manage.py
reattribute_conversions``, and the conversion check of reconcile_metrics.

A campaign's goal events are attributed again in batches of people (every
person with a message of the campaign on a channel that tracks conversions);
each batch is one transaction that locks those people's messages of the
campaign, rewrites their conversions by difference and moves the counters.
The campaign's ``attribution_version`` grows with each edit: a run overtaken
by a newer edit stops, and the newer run finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import transaction

from campaigns.models import AttributionState, Campaign
from messaging import conversions
from messaging.attribution import (
    CONVERTING_CHANNELS,
    Candidate,
    Goal,
    attribute,
    campaign_goal,
    goal_key,
    is_attributed,
    moments_of,
)
from messaging.message_states import stored_facts
from messaging.models import Message, PersonEvent

BATCH_PEOPLE = 1000


@dataclass
class Progress:
    campaign_id: int
    done: int  # people attributed again
    total: int
    goals: int = 0  # goal events attributed again
    added: int = 0
    removed: int = 0
    stopped: bool = False  # overtaken by a newer edit


def campaign_people(campaign_id: int) -> list[int]:
    """Everyone whose goal events the campaign's conversions depend on."""
    return list(
        Message.objects.filter(campaign_id=campaign_id, channel__in=CONVERTING_CHANNELS)
        .values_list("person_id", flat=True)
        .distinct()
        .order_by("person_id")
    )


def reattribute_campaign(
    campaign_id: int,
    *,
    version: int | None = None,
    batch: int = BATCH_PEOPLE,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Attributes every goal event of the campaign again. With ``version``
    (an edit's run) progress is recorded on the campaign and the run stops
    when a newer edit overtook it; the last batch marks the campaign
    current."""
    people = campaign_people(campaign_id)
    progress = Progress(campaign_id, 0, len(people))
    if version is not None and not _record(campaign_id, version, total=len(people), done=0):
        progress.stopped = True
        return progress
    for start in range(0, len(people), batch):
        chunk = people[start : start + batch]
        with transaction.atomic():
            result = conversions.rewrite(chunk, [campaign_id])
            conversions.apply(result)
            progress.done += len(chunk)
            if version is not None and not _record(campaign_id, version, done=progress.done):
                transaction.set_rollback(True)
                progress.done -= len(chunk)
                progress.stopped = True
                return progress
        progress.goals += result.goals
        progress.added += result.added
        progress.removed += result.removed
        if on_progress is not None:
            on_progress(progress)
    if version is not None:
        Campaign.objects.filter(pk=campaign_id, attribution_version=version).update(
            attribution_state=AttributionState.CURRENT
        )
    return progress


def _record(campaign_id: int, version: int, **values) -> bool:
    updated = Campaign.objects.filter(pk=campaign_id, attribution_version=version).update(
        **{f"attribution_{name}": value for name, value in values.items()}
    )
    return bool(updated)


# --- The check reconcile_metrics runs ----------------------------------------------


@dataclass(frozen=True)
class ConversionDrift:
    message_id: int
    key: str  # goal:<person>:<event id>
    stored: bool  # True: stored but not attributed by the rule; False: missing


def conversion_drift(campaign_id: int | None = None) -> Iterator[ConversionDrift]:
    """Attributes every goal event again from the log (read only) and yields
    each stored conversion the rule does not make and each one it makes that
    is not stored."""
    campaigns = Campaign.objects.all()
    if campaign_id is not None:
        campaigns = campaigns.filter(pk=campaign_id)
    for campaign in campaigns:
        goal = campaign_goal(campaign)
        people = campaign_people(campaign.id)
        for start in range(0, len(people), BATCH_PEOPLE):
            yield from _drift_of(goal, people[start : start + BATCH_PEOPLE])


def _drift_of(goal, people: list[int]) -> Iterator[ConversionDrift]:
    from messaging import history

    candidates = Message.objects.filter(
        person_id__in=people,
        campaign_id=goal.id,
        channel__in=CONVERTING_CHANNELS,
        discarded_at__isnull=True,
    )
    # A message whose history was pruned is closed (messaging.history): its
    # conversions went with its log, and attribution no longer considers it.
    messages = list(
        history.retained(candidates).values_list(
            "id", "person_id", "channel", "action__track_opens"
        )
    )
    facts: dict[int, list] = {message_id: [] for message_id, *_ in messages}
    for message_id, fact in stored_facts(facts):
        facts[message_id].append(fact)
    goals: dict[int, list[Goal]] = {}
    if goal.event:
        for goal_id, person_id, name, event_id, occurred_at in PersonEvent.objects.filter(
            person_id__in=people, name=goal.event
        ).values_list("id", "person_id", "name", "event_id", "occurred_at"):
            goals.setdefault(person_id, []).append(
                Goal(goal_id, name, occurred_at, goal_key(person_id, event_id))
            )
    by_person: dict[int, list[Candidate]] = {}
    for message_id, person_id, channel, opens in messages:
        by_person.setdefault(person_id, []).append(
            Candidate(message_id, goal.id, moments_of(channel, facts[message_id], opens=opens))
        )
    expected: set[tuple[int, str]] = set()
    for person_id, candidates in by_person.items():
        own = goals.get(person_id, [])
        keys = {g.id: g.key for g in own}
        for (goal_id, _), message_id in attribute(own, {goal.id: goal}, candidates).items():
            expected.add((message_id, keys[goal_id]))
    stored = {
        (message_id, fact.key)
        for message_id, own in facts.items()
        for fact in own
        if is_attributed(fact)
    }
    for message_id, key in sorted(stored - expected):
        yield ConversionDrift(message_id, key, stored=True)
    for message_id, key in sorted(expected - stored):
        yield ConversionDrift(message_id, key, stored=False)


def repair_conversions(drifts: list[ConversionDrift]) -> None:
    """Attributes again the people and campaigns of these drifts."""
    scopes: dict[int, set[int]] = {}
    for campaign_id, person_id in Message.objects.filter(
        id__in={d.message_id for d in drifts}
    ).values_list("campaign_id", "person_id"):
        scopes.setdefault(campaign_id, set()).add(person_id)
    for campaign_id, people in sorted(scopes.items()):
        ordered = sorted(people)
        for start in range(0, len(ordered), BATCH_PEOPLE):
            with transaction.atomic():
                conversions.apply(
                    conversions.rewrite(ordered[start : start + BATCH_PEOPLE], [campaign_id])
                )
