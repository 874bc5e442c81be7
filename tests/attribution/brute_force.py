"""The credit rules read plainly (DESIGN.md "Converted"), for the tests to
check messaging.attribution against: for one goal event and one campaign,
look at every message of the campaign, keep those the rule allows, and take
the latest (or, for first_reached, the earliest) moment."""

from __future__ import annotations

from datetime import datetime, timedelta

from campaigns import channels
from messaging.status import EventFact, compute_state


def credited_message(
    *,
    rule: str,
    window_hours: int,
    goal_at: datetime,
    messages: list[tuple[int, str, list[EventFact]]],  # (id, channel, every event)
) -> int | None:
    allowed = []
    for message_id, channel, facts in messages:
        if not channels.tracks(channel, channels.CONVERTED):
            continue
        # Judged by the status engine, without the conversions themselves.
        state = compute_state(channel, [f for f in facts if f.type != "converted"])
        if state.status in (None, "bounced", "failed", "suppressed", "undeliverable"):
            continue
        delivery = channels.reports_delivery(channel)
        reached = state.at("delivered") if delivery else state.at("sent")
        if reached is None:
            continue
        if rule in ("last_reached", "first_reached"):
            moment = reached
        elif rule == "last_opened":
            moment = state.at("opened")
        else:
            moment = state.at("clicked")
        if moment is None or moment > goal_at:
            continue
        if goal_at - moment > timedelta(hours=window_hours):
            continue
        allowed.append((moment, message_id))
    if not allowed:
        return None
    allowed.sort()
    return allowed[0][1] if rule == "first_reached" else allowed[-1][1]
