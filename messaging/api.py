"""REST API: people, sending, messages, person events, suppressions.

Thin edges: validate, call the services (messaging.sending, .ingest,
.attribution, .suppression), answer in the shape of CONTRACT.md.
"""

from __future__ import annotations

from datetime import datetime

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.api import IdCursorPagination, answers
from campaigns.models import Action
from campaigns.serializers import StrictSerializer
from campaigns.vocabulary import EventType, Source
from config import access
from messaging import sending
from messaging.audience.api import api_change
from messaging.audience.audit import AuditSource
from messaging.audience.suppression import (
    AlreadySuppressed,
    active,
    person_delete,
    person_unsubscribe,
    person_update,
    person_upsert,
    suppression_add,
    suppression_remove,
    suppressions_expire_due,
)
from messaging.conversions import message_conversions, person_event_record
from messaging.events import Event
from messaging.filters import ApiMessageFilter, SuppressionFilter
from messaging.ingest import CLOCK_SKEW, EventRefused, apply_events
from messaging.message_states import timeline_implied, timeline_order
from messaging.models import Message, MessageEvent, Person, Suppression
from messaging.sending import rendering
from messaging.serializers import (
    MessageDetailSerializer,
    MessageSerializer,
    OpenedSerializer,
    PersonEventResultSerializer,
    PersonEventSerializer,
    PersonSerializer,
    PersonUpdateSerializer,
    SendResultSerializer,
    SendSerializer,
    SuppressionSerializer,
)


class EmptySerializer(StrictSerializer):
    """A POST that takes no body (an empty object at most)."""


def _conflict(reason: str) -> Response:
    return Response({"detail": reason}, status=status.HTTP_409_CONFLICT)


# --- People ------------------------------------------------------------------------


def _person(external_id: str) -> Person:
    if "\x00" in external_id:  # PostgreSQL text cannot hold it: no such person
        raise Http404
    return get_object_or_404(Person, external_id=external_id)


class PeopleView(generics.ListAPIView):
    required_permissions = {
        "GET": access.VIEW_PERSON,
        "POST": (access.ADD_PERSON, access.CHANGE_PERSON),
    }
    queryset = Person.objects.all()
    serializer_class = PersonSerializer
    pagination_class = IdCursorPagination

    @extend_schema(
        summary="List people (newest first)",
        responses=answers({200: PersonSerializer(many=True)}, 400),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a person, or update the one with this external_id",
        description="201 when created; 200 when a person with this external_id existed and "
        "was updated (only the fields given; attributes merge, a key set to null is removed).",
        request=PersonSerializer,
        responses=answers({200: PersonSerializer, 201: PersonSerializer}, 400, 415),
    )
    def post(self, request: Request) -> Response:
        serializer = PersonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        person, created = person_upsert(**serializer.validated_data)
        return Response(
            PersonSerializer(person).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PersonDetail(generics.GenericAPIView):
    required_permissions = {
        "GET": access.VIEW_PERSON,
        "PATCH": access.CHANGE_PERSON,
        "DELETE": access.DELETE_PERSON,
    }
    serializer_class = PersonSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(summary="A person", responses=answers({200: PersonSerializer}, 404))
    def get(self, request: Request, external_id: str) -> Response:
        return Response(PersonSerializer(_person(external_id)).data)

    @extend_schema(
        summary="Update a person",
        description="Only the fields given change; attributes merge, a key set to null is "
        "removed. external_id cannot change.",
        request=PersonUpdateSerializer,
        responses=answers({200: PersonSerializer}, 400, 404, 415),
    )
    def patch(self, request: Request, external_id: str) -> Response:
        person = _person(external_id)
        serializer = PersonUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        person = person_update(person=person, **serializer.validated_data)
        return Response(PersonSerializer(person).data)

    @extend_schema(
        summary="Delete a person",
        description="Marks the person deleted: history stays; later messages to them are "
        "undeliverable.",
        responses=answers({204: None}, 404),
    )
    def delete(self, request: Request, external_id: str) -> Response:
        person_delete(person=_person(external_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PersonUnsubscribe(generics.GenericAPIView):
    required_permissions = {"POST": access.UNSUBSCRIBE_PERSON}
    serializer_class = EmptySerializer

    @extend_schema(
        summary="Unsubscribe a person (from every channel)",
        request=EmptySerializer,
        responses=answers({200: PersonSerializer}, 400, 404, 415),
    )
    def post(self, request: Request, external_id: str) -> Response:
        person = _person(external_id)
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        person = person_unsubscribe(person=person, change=api_change(request))
        return Response(PersonSerializer(person).data)


# --- Sending -------------------------------------------------------------------------


class SendView(generics.GenericAPIView):
    required_permissions = {"POST": access.SEND_MESSAGE}
    serializer_class = SendSerializer

    @extend_schema(
        summary="Send an action to people",
        description="Creates one new message per listed person (listed twice: one message), "
        "even for an action already sent to them; `status` is the status at the time of the "
        "answer. A deleted, unsubscribed or address-less person still gets a message, which "
        "becomes undeliverable with its reason. An unknown action or person is a 400 and "
        "nothing is created.",
        request=SendSerializer,
        responses=answers({202: SendResultSerializer}, 400, 415),
    )
    def post(self, request: Request) -> Response:
        serializer = SendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        action = Action.objects.filter(pk=data["action"]).first()
        if action is None:
            raise serializers.ValidationError({"action": [f"No action with id {data['action']}."]})
        external_ids = list(dict.fromkeys(data["people"]))
        found = Person.objects.in_bulk(external_ids, field_name="external_id")
        missing = [external_id for external_id in external_ids if external_id not in found]
        if missing:
            shown = ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "")
            raise serializers.ValidationError(
                {"people": [f"Unknown people ({len(missing)}): {shown}"]}
            )
        people = [found[external_id] for external_id in external_ids]
        try:
            messages = sending.action_send(action=action, people=people)
        except sending.NotAllowed as exc:
            return _conflict(str(exc))
        # Eager pipelines may already have moved them on: answer what is stored now.
        statuses = dict(
            Message.objects.filter(id__in=[m.id for m in messages]).values_list("id", "status")
        )
        external_id_of = {person.id: person.external_id for person in people}
        return Response(
            {
                "messages": [
                    {
                        "id": message.id,
                        "person": external_id_of[message.person_id],
                        "status": statuses.get(message.id, message.status),
                    }
                    for message in messages
                ]
            },
            status=status.HTTP_202_ACCEPTED,
        )


# --- Messages --------------------------------------------------------------------------


def _messages():
    # Discarded drafts leave the log (CONTRACT.md).
    return Message.objects.filter(discarded_at__isnull=True).select_related("person")


class MessageList(generics.ListAPIView):
    required_permissions = {"GET": access.VIEW_MESSAGE}
    serializer_class = MessageSerializer
    pagination_class = IdCursorPagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = ApiMessageFilter

    def get_queryset(self):
        return _messages()

    @extend_schema(
        summary="The delivery log, newest first",
        responses=answers({200: MessageSerializer(many=True)}, 400),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


def message_timeline(message: Message) -> list[dict]:
    """Every stored event and the implied ones (source "implied"), ordered by
    occurred_at then received_at."""
    rows = list(
        MessageEvent.objects.filter(message=message)
        .order_by("occurred_at", "received_at", "id")
        .values(
            "id",
            "type",
            "occurred_at",
            "received_at",
            "source",
            "idempotency_key",
            "machine",
            "link_id",
            "attempt",
            "bounce_type",
            "reason",
            "provider",
            "detail",
        )
    )
    entries = []
    for row in rows:
        stored = row["detail"]
        detail = dict(stored) if isinstance(stored, dict) else {"payload": stored}
        for name in ("reason", "bounce_type", "provider"):
            if row[name]:
                detail.setdefault(name, row[name])
        entries.append(
            (
                timeline_order(row),
                {
                    "type": row["type"],
                    "occurred_at": row["occurred_at"],
                    "received_at": row["received_at"],
                    "source": row["source"],
                    "machine": row["machine"],
                    "link": row["link_id"],
                    "attempt": row["attempt"],
                    "detail": detail,
                },
            )
        )
    for order, implied in timeline_implied(message, rows):
        entries.append(
            (
                order,
                {
                    "type": implied["type"],
                    "occurred_at": implied["occurred_at"],
                    "received_at": implied["received_at"],
                    "source": Source.IMPLIED.value,
                    "machine": False,
                    "link": None,
                    "attempt": implied["attempt"],
                    "detail": {"implied_by": by} if (by := implied["implied_by"]) else {},
                },
            )
        )
    entries.sort(key=lambda entry: entry[0])
    return [entry for _, entry in entries]


def _message(pk: int) -> Message:
    return get_object_or_404(_messages(), pk=pk)


class MessageDetail(generics.GenericAPIView):
    required_permissions = {"GET": access.VIEW_MESSAGE}
    serializer_class = MessageDetailSerializer

    @extend_schema(
        summary="A message with its events (oldest first) and tracking URLs",
        responses=answers({200: MessageDetailSerializer}, 404),
    )
    def get(self, request: Request, pk: int) -> Response:
        message = get_object_or_404(_messages().select_related("action"), pk=pk)
        message.timeline = message_timeline(message)
        # The URLs the rendered message carries (the pipeline's renderer decides).
        message.tracking = rendering.message_tracking(message)
        message.conversions = message_conversions(message)
        message.headers = rendering.message_headers(message)
        return Response(MessageDetailSerializer(message).data)


class _MessageCommand(generics.GenericAPIView):
    serializer_class = EmptySerializer

    def run(self, message: Message) -> None:
        raise NotImplementedError

    def answer(self, message: Message) -> Response:
        return Response(
            MessageSerializer(_message(message.pk)).data, status=status.HTTP_202_ACCEPTED
        )

    def post(self, request: Request, pk: int) -> Response:
        message = _message(pk)
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        try:
            self.run(message)
        except sending.NotAllowed as exc:
            return _conflict(str(exc))
        return self.answer(message)


@extend_schema(
    summary="Send a drafted message",
    request=EmptySerializer,
    responses=answers({202: MessageSerializer}, 400, 404, 409, 415),
)
class MessageSendDraft(_MessageCommand):
    required_permissions = {"POST": access.SEND_MESSAGE}

    def run(self, message: Message) -> None:
        sending.message_send_draft(message=message)


@extend_schema(
    summary="Retry a failed message",
    request=EmptySerializer,
    responses=answers({202: MessageSerializer}, 400, 404, 409, 415),
)
class MessageRetry(_MessageCommand):
    required_permissions = {"POST": access.RETRY_MESSAGE}

    def run(self, message: Message) -> None:
        sending.message_retry(message=message)


@extend_schema(
    summary="Discard a drafted message",
    description="The message leaves the delivery log and the metrics.",
    request=EmptySerializer,
    responses=answers({204: None}, 400, 404, 409, 415),
)
class MessageDiscard(_MessageCommand):
    required_permissions = {"POST": access.DISCARD_MESSAGE}

    def run(self, message: Message) -> None:
        sending.message_discard(message=message)

    def answer(self, message: Message) -> Response:
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageOpened(generics.GenericAPIView):
    required_permissions = {"POST": access.REPORT_OPEN}
    serializer_class = OpenedSerializer

    @extend_schema(
        summary="Report an open (how a push SDK reports one)",
        description="422 for a message whose channel does not track opens.",
        request=OpenedSerializer,
        responses=answers({202: MessageSerializer}, 400, 404, 415, 422),
    )
    def post(self, request: Request, pk: int) -> Response:
        message = _message(pk)
        serializer = OpenedSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        occurred_at: datetime = serializer.validated_data.get("timestamp") or timezone.now()
        if occurred_at < message.created_at - CLOCK_SKEW:
            # Clocks are bounded (DESIGN.md): within 5 minutes before the
            # message's creation ingest clamps it (client clock skew); earlier
            # is refused.
            return Response(
                {"timestamp": ["Is more than 5 minutes before the message was created."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        event = Event(
            type=EventType.OPENED,
            occurred_at=occurred_at,
            # The same report sent twice (a client's retry) is one open.
            idempotency_key=f"api:opened:{occurred_at.isoformat()}",
            source=Source.API,
            message_id=message.id,
        )
        try:
            apply_events([event], strict=True)
        except EventRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(MessageSerializer(_message(pk)).data, status=status.HTTP_202_ACCEPTED)


# --- Person events ------------------------------------------------------------------------


class PersonEventView(generics.GenericAPIView):
    required_permissions = {"POST": access.REPORT_EVENT}
    serializer_class = PersonEventSerializer

    @extend_schema(
        summary="Record a person's event; runs conversion attribution",
        description="An unknown person is created. With an `id` the call is idempotent: a "
        "repeated id records and converts nothing again.",
        request=PersonEventSerializer,
        responses=answers({202: PersonEventResultSerializer}, 400, 415),
    )
    def post(self, request: Request) -> Response:
        serializer = PersonEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        person, _ = person_upsert(external_id=data["person"])
        event, converted = person_event_record(
            person=person,
            name=data["name"],
            occurred_at=data.get("timestamp") or timezone.now(),
            event_id=data.get("id"),
        )
        return Response(
            {
                "person": person.external_id,
                "name": event.name,
                "id": event.event_id,
                "timestamp": event.occurred_at,
                "converted_messages": converted,
            },
            status=status.HTTP_202_ACCEPTED,
        )


# --- Suppressions --------------------------------------------------------------------------


class SuppressionListCreate(generics.ListAPIView):
    required_permissions = {"GET": access.VIEW_SUPPRESSION, "POST": access.ADD_SUPPRESSION}
    queryset = Suppression.objects.select_related("created_by")
    serializer_class = SuppressionSerializer
    pagination_class = IdCursorPagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = SuppressionFilter

    def get_queryset(self):
        # Never an expired entry, even one a concurrent expiry holds uncommitted.
        return super().get_queryset().filter(active())

    @extend_schema(
        summary="The suppression list, newest first",
        responses=answers({200: SuppressionSerializer(many=True)}, 400),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        # Expired entries leave the list (and their expiry enters the trail)
        # when they are due, not when the sweeper next runs.
        suppressions_expire_due()
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Suppress an email address",
        request=SuppressionSerializer,
        responses=answers({201: SuppressionSerializer}, 400, 415),
    )
    def post(self, request: Request) -> Response:
        serializer = SuppressionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            suppression = suppression_add(
                created_by=request.user, source=AuditSource.API, **serializer.validated_data
            )
        except AlreadySuppressed as exc:
            raise serializers.ValidationError({"address": [str(exc)]}) from None
        return Response(SuppressionSerializer(suppression).data, status=status.HTTP_201_CREATED)


class SuppressionDetail(generics.GenericAPIView):
    required_permissions = {"DELETE": access.DELETE_SUPPRESSION}
    serializer_class = SuppressionSerializer
    http_method_names = ["delete", "options"]

    @extend_schema(
        summary="Remove a suppression (later emails to the address go out again)",
        description="`?reason=` says why; it is kept in the audit trail with who removed it.",
        parameters=[OpenApiParameter("reason", str, description="why it is removed (audit trail)")],
        responses=answers({204: None}, 404),
    )
    def delete(self, request: Request, pk: int) -> Response:
        suppression_remove(
            suppression=get_object_or_404(Suppression, pk=pk),
            source=AuditSource.API,
            actor=request.user,
            why=request.query_params.get("reason", "").replace("\x00", "")[:300],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
