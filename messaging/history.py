"""The event log's partitions and its retention (DESIGN.md "Scale").

On PostgreSQL ``messaging_messageevent`` is partitioned by the month of its
message's creation (``message_created_at``; migration 0015 says why), one
partition per month plus a default one for a month not created yet. The
sweeper creates partitions ahead (``partitions_ensure``), so the default
partition stays empty; a row that lands there anyway is moved into its
month when that month's partition is created.

``history_prune`` drops the history of every message created before a month:
whole partitions on PostgreSQL, a DELETE on SQLite (one table; the embedded
default is small). It refuses unless the counters hold exactly what those
messages' events make (the reconcile check over every campaign they belong
to) and none of them can still change through the pipeline. What they
contributed to each counter is recorded (``PrunedHistory``), so reconcile
still accounts for every counter afterwards. A message whose history was
pruned is closed: ingest drops events that arrive for it later (a provider's
very late report), since its status can no longer be recomputed from its
log.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Max, QuerySet, Subquery
from django.utils import timezone

from campaigns.vocabulary import Status
from messaging.models import Message, MessageEvent, PrunedHistory

TABLE = MessageEvent._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
# Months created ahead of the current one.
AHEAD_MONTHS = 2
# Statuses whose messages the pipeline may still move (writing events): their
# history cannot go. A draft may still be sent by a person.
OPEN_STATUSES = (Status.QUEUED, Status.ATTEMPTED, Status.DRAFTED)


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def parse_month(text: str) -> datetime:
    """'YYYY-MM' as the first instant of that month, UTC."""
    try:
        return datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"'{text}' is not a month: give YYYY-MM.") from None


def partition_name(month: datetime) -> str:
    return f"{TABLE}_p{month:%Y_%m}"


def partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partitions() -> dict[datetime, str]:
    """The monthly partitions (not the default one): first instant -> name."""
    if not partitioned():
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        names = [name for (name,) in cursor.fetchall()]
    months = {_month_of(name): name for name in names}
    return {month: name for month, name in months.items() if month is not None}


def _month_of(name: str) -> datetime | None:
    """The month of a monthly partition's name (partition_name's inverse)."""
    prefix = f"{TABLE}_p"
    if not name.startswith(prefix):
        return None
    try:
        return datetime.strptime(name.removeprefix(prefix), "%Y_%m").replace(tzinfo=UTC)
    except ValueError:
        return None


def partitions_ensure(*, now: datetime | None = None, ahead: int = AHEAD_MONTHS) -> list[str]:
    """Creates the partitions of the current month and ``ahead`` months after
    it that do not exist yet; returns their names. Idempotent, so the
    sweeper runs it every time."""
    if not partitioned():
        return []
    month = month_start(now or timezone.now())
    wanted = [month]
    for _ in range(ahead):
        wanted.append(next_month(wanted[-1]))
    existing = partitions()
    return [
        partition_name(month)
        for month in wanted
        if month not in existing and _create_partition(month)
    ]


def _create_partition(month: datetime) -> bool:
    name = partition_name(month)
    following = next_month(month)
    with transaction.atomic(), connection.cursor() as cursor:
        # Concurrent sweepers: one creates, the others find it done.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [TABLE])
        cursor.execute("SELECT to_regclass(%s)", [name])
        if cursor.fetchone()[0] is not None:
            return False
        # Rows of this month in the default partition (its month had no
        # partition when they came) move into it: the new partition is built
        # detached, filled, then attached, which checks the default holds no
        # row of its range any more.
        # Writers of rows routed to the default partition wait until the
        # attach, so none lands there between the move and the attach.
        cursor.execute(f'LOCK TABLE "{DEFAULT_PARTITION}" IN SHARE ROW EXCLUSIVE MODE')
        cursor.execute(
            f'CREATE TABLE "{name}" (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )
        cursor.execute(
            f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE message_created_at >= %s '
            f'AND message_created_at < %s RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
            [month, following],
        )
        cursor.execute(
            f'ALTER TABLE {TABLE} ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)',
            [month, following],
        )
    return True


# --- Retention ------------------------------------------------------------------


class PruneRefused(Exception):
    """prune_history cannot drop this history; the message says why."""


@dataclass
class PrunePlan:
    before: datetime
    months: list[str] = field(default_factory=list)  # "YYYY-MM", oldest first
    partitions: list[str] = field(default_factory=list)  # tables to drop (PostgreSQL)
    messages: int = 0
    events: int = 0
    campaigns: list[int] = field(default_factory=list)
    contribution: Counter = field(default_factory=Counter)  # key -> value
    campaign_of_key: dict[tuple, int] = field(default_factory=dict)
    last_event_id: int | None = None  # what the check saw; must not move before the drop


def retained_from() -> datetime | None:
    """The first instant whose messages still have their history (None: nothing pruned)."""
    return PrunedHistory.objects.aggregate(before=Max("before"))["before"]


# retained_from() read inside another query, so it costs no round trip: as
# an ORM subquery (annotate) and as SQL (raw statements).
RETAINED_FROM = Subquery(PrunedHistory.objects.order_by("-before").values("before")[:1])
RETAINED_FROM_SQL = f"(SELECT max(before) FROM {PrunedHistory._meta.db_table})"


def closed(created_at: datetime, retained: datetime | None) -> bool:
    """A message created before ``retained`` (retained_from()) has no history
    left: closed. It keeps its status and counts, takes no more events, is
    never sent again and converts no goal event."""
    return retained is not None and created_at < retained


def retained(messages: QuerySet) -> QuerySet:
    """Only the messages that still have their history (not closed)."""
    start = retained_from()
    return messages if start is None else messages.filter(created_at__gte=start)


def history_prune_plan(*, before: datetime, now: datetime | None = None) -> PrunePlan:
    """Everything history_prune checks, without changing anything: raises
    PruneRefused when the history before ``before`` cannot go."""
    from messaging.reconcile import find_drift

    now = now or timezone.now()
    if before != month_start(before):
        raise PruneRefused("--before must be the first instant of a month.")
    if before > month_start(now):
        raise PruneRefused(
            f"{before:%Y-%m} is after the current month: the history of messages created "
            "this month cannot be pruned."
        )
    plan = PrunePlan(before=before)
    start = retained_from()
    if start is not None and before <= start:
        raise PruneRefused(f"History before {start:%Y-%m} is already pruned; nothing to do.")
    in_range = _created_in(Message.objects.all(), "created_at", start, before)
    open_ = (
        in_range.filter(status__in=OPEN_STATUSES, discarded_at__isnull=True)
        .values_list("status")
        .order_by()
    )
    still_open = Counter(status for (status,) in open_)
    if still_open:
        listed = ", ".join(f"{n} {status}" for status, n in sorted(still_open.items()))
        raise PruneRefused(
            f"Messages created before {before:%Y-%m} can still change through the pipeline "
            f"({listed}); their history is still needed. Let them finish (or discard the "
            "drafts) first."
        )
    plan.campaigns = sorted(set(in_range.values_list("campaign_id", flat=True).distinct()))
    events = _created_in(MessageEvent.objects.all(), "message_created_at", start, before)
    summary = events.aggregate(last=Max("id"))
    plan.last_event_id = summary["last"]
    plan.events = events.count()
    plan.messages = in_range.count()
    for campaign_id in plan.campaigns:
        drift, _, _ = find_drift(campaign_id)
        if drift:
            raise PruneRefused(
                f"Campaign {campaign_id}'s counters drift from its event log: dropping the "
                "history would lose what the counters are checked against. Run "
                f"`manage.py reconcile_metrics --campaign {campaign_id}` (and --fix), "
                "then prune again."
            )
    # What the pruned messages add to each counter: exact, since the
    # counters match the log (checked above).
    plan.contribution, campaign_of_key = recount_range(start, before)
    plan.campaign_of_key = campaign_of_key
    first_month = month_start(start) if start else _oldest_month(before)
    month = first_month
    while month is not None and month < before:
        plan.months.append(f"{month:%Y-%m}")
        month = next_month(month)
    plan.partitions = [name for month, name in sorted(partitions().items()) if month < before]
    return plan


def _created_in(rows: QuerySet, field: str, start: datetime | None, before: datetime) -> QuerySet:
    """The rows (messages, or events by their message's creation) of the
    messages created in [start, before): what a prune covers, ``start`` None
    when nothing was pruned before."""
    rows = rows.filter(**{f"{field}__lt": before})
    return rows if start is None else rows.filter(**{f"{field}__gte": start})


def _oldest_month(before: datetime) -> datetime | None:
    oldest = Message.objects.filter(created_at__lt=before).order_by("created_at").first()
    existing = [month for month in partitions() if month < before]
    candidates = [month_start(oldest.created_at)] if oldest else []
    candidates += existing
    return min(candidates) if candidates else None


def recount_range(start: datetime | None, before: datetime) -> tuple[Counter, dict[tuple, int]]:
    """The counters' contribution of the messages created in [start, before),
    recounted from their events, with the campaign of each key."""
    from messaging.reconcile import recount_messages

    messages = _created_in(Message.objects.all(), "created_at", start, before)
    contribution, _, campaign_of_key = recount_messages(messages)
    return contribution, campaign_of_key


def history_prune(
    *, before: datetime, now: datetime | None = None, dry_run: bool = False
) -> PrunePlan:
    """Drops the history of every message created before ``before`` (see the
    module's docstring); returns what was (or, dry run, would be) dropped."""
    now = now or timezone.now()
    plan = history_prune_plan(before=before, now=now)
    if not dry_run:
        history_drop(plan, now=now)
    return plan


def history_drop(plan: PrunePlan, *, now: datetime) -> None:
    """The drop itself, for a plan history_prune_plan checked (bench/prune.py
    measures both steps)."""
    history_detach(plan, now=now)
    if partitioned():
        drop_detached()


def history_detach(plan: PrunePlan, *, now: datetime) -> None:
    """Takes the months out of the log in one short transaction (the only
    step writers wait for): on PostgreSQL their partitions are detached, to
    be dropped by drop_detached; on SQLite their rows are deleted."""
    before = plan.before
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Ingest locks the messages it writes for: this waits for batches
            # in flight and holds new ones until the drop commits (a batch
            # then reads PrunedHistory and drops events of pruned messages).
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {Message._meta.db_table} IN EXCLUSIVE MODE")
        events = _created_in(
            MessageEvent.objects.all(), "message_created_at", retained_from(), before
        )
        if events.aggregate(last=Max("id"))["last"] != plan.last_event_id:
            raise PruneRefused(
                "Events of these messages arrived while the counters were checked; run "
                "prune_history again."
            )
        PrunedHistory.objects.create(
            before=before,
            pruned_at=now,
            months=plan.months,
            events=plan.events,
            messages=plan.messages,
            contribution=[
                [plan.campaign_of_key[key], _encode(key), value]
                for key, value in sorted(plan.contribution.items(), key=lambda i: str(i[0]))
            ],
        )
        if partitioned():
            with connection.cursor() as cursor:
                # Deferred foreign-key checks of rows written earlier in the
                # same transaction (a caller's) would block the detach: run them.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                # Detached, the months are out of the log at once; their files
                # go below, after the commit, so ingest waits only for this.
                for name in plan.partitions:
                    cursor.execute(f'ALTER TABLE {TABLE} DETACH PARTITION "{name}"')
                # A stray row of a pruned month in the default partition.
                cursor.execute(
                    f'DELETE FROM "{DEFAULT_PARTITION}" WHERE message_created_at < %s', [before]
                )
        else:
            events.delete()


def drop_detached() -> list[str]:
    """Drops the monthly tables of pruned months that are no longer
    partitions: those just detached, and any a prune detached but could not
    drop (its process stopped in between)."""
    start = retained_from()
    if start is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE %s "
            "AND c.relnamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)",
            [f"{TABLE}_p%"],
        )
        names = [name for (name,) in cursor.fetchall()]
    dropped = []
    for name in sorted(names):
        month = _month_of(name)
        if month is not None and month < start:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f'DROP TABLE "{name}"')
            dropped.append(name)
    return dropped


def pruned_contribution(campaign_id: int | None = None) -> Counter:
    """What pruned messages added to each counter (reconcile adds it to its recount)."""
    out: Counter = Counter()
    for contribution in PrunedHistory.objects.values_list("contribution", flat=True):
        for campaign, key, value in contribution:
            if campaign_id is None or campaign == campaign_id:
                out[_decode(key)] += value
    return out


# Counter keys as campaigns.metrics builds them; a series key's bucket (its
# fourth part) is an hour, stored as ISO 8601 text.
def _encode(key: tuple) -> list:
    if key[0] == "series":
        return [*key[:3], key[3].isoformat(), *key[4:]]
    return list(key)


def _decode(key: list) -> tuple:
    if key[0] == "series":
        return (*key[:3], datetime.fromisoformat(key[3]), *key[4:])
    return tuple(key)
