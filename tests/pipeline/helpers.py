from collections import Counter

from campaigns.vocabulary import Channel
from messaging.models import Message, MessageEvent

ALL_CHANNELS = [channel.value for channel in Channel]


def use_backend(settings, name: str) -> None:
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(ALL_CHANNELS, name)


def use_simulated(settings) -> str:
    """Every channel through the simulated providers, whose SendGrid
    callbacks are signed with a fresh P-256 key; returns its public key."""
    from messaging.webhooks.providers import base

    private_pem, public_key = base.generate_p256_keypair()
    settings.SENDGRID_WEBHOOK_VERIFICATION_KEY = [public_key]
    settings.TIDINGS_SIMULATOR_SENDGRID_KEY = private_pem
    use_backend(settings, "simulated")
    return public_key


def reload(message) -> Message:
    return Message.objects.get(pk=message.pk)


def event_types(message) -> list[str]:
    return list(
        MessageEvent.objects.filter(message_id=message.pk)
        .order_by("occurred_at", "id")
        .values_list("type", flat=True)
    )


def statuses(messages) -> Counter:
    return Counter(
        Message.objects.filter(id__in=[m.pk for m in messages]).values_list("status", flat=True)
    )
