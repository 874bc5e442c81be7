from datetime import datetime, timedelta

from django.db import connection

from campaigns.vocabulary import Source
from messaging.events import Event
from messaging.history import partitions_ensure


def partition_of(event_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM messaging_messageevent WHERE id = %s",
            [event_id],
        )
        return cursor.fetchone()[0]


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def month_partitions(*months: datetime) -> None:
    """The partitions of these months, as the sweeper of that time made them."""
    for month in months:
        partitions_ensure(now=month, ahead=0)


def history(message, *types: str, key_prefix: str = "p") -> list[Event]:
    """Provider events of ``types`` for the message, a minute apart after its creation."""
    return [
        Event(
            type=type_,
            occurred_at=message.created_at + timedelta(minutes=i + 1),
            idempotency_key=f"{key_prefix}:{type_}:{message.id}",
            source=Source.PROVIDER,
            message_id=message.id,
            link_id=message.action.links.first().id if type_ == "clicked" else None,
        )
        for i, type_ in enumerate(types)
    ]
