from datetime import timedelta
from urllib.parse import urlsplit

from campaigns.vocabulary import Channel, EventType, Source
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.models import Message, MessageEvent
from messaging.tracking.tokens import click_url, make_token, open_pixel_url
from tests import factories

URL_A = "https://shop.example.com/spring?utm_source=tidings&x=1"
URL_B = "https://example.com/b"
BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def sent(channel: str = Channel.EMAIL) -> Message:
    action = factories.action(channel, links=(URL_A, URL_B))
    message = factories.message(channel, action_obj=action)
    apply_events(
        [
            Event(
                type=EventType.SENT,
                occurred_at=factories.T0 + timedelta(minutes=1),
                idempotency_key="sent:0",
                source=Source.PIPELINE,
                message_id=message.pk,
            )
        ]
    )
    return Message.objects.get(pk=message.pk)


def link_of(message: Message, url: str = URL_A):
    return message.action.links.get(url=url)


def pixel_path(message: Message) -> str:
    return urlsplit(open_pixel_url(message.pk)).path


def click_path(message: Message, url: str = URL_A) -> str:
    return urlsplit(click_url(message.pk, link_of(message, url).pk)).path


def token_path(kind: str, token: str) -> str:
    return f"/t/o/{token}.gif" if kind == "open" else f"/t/c/{token}"


def recipient_events(message: Message) -> list[MessageEvent]:
    return list(
        MessageEvent.objects.filter(message_id=message.pk, source=Source.RECIPIENT).order_by("id")
    )


__all__ = ["make_token"]
