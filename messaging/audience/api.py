"""REST API of the audience (CONTRACT.md "Subscriptions, suppressions and
the audit trail"): resubscribe, erase, and the audit trail. Thin edges over
the audience services."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.api import TimeIdCursorPagination, answers
from campaigns.serializers import StrictSerializer
from config import access
from messaging.audience.audit import AuditEntry, AuditSource, Change
from messaging.audience.erase import person_erase
from messaging.audience.subscription import person_resubscribe
from messaging.audience.suppression import (
    address_digest,
    normalise_address,
    suppressions_expire_due,
)
from messaging.filters import ZonedIsoDateTimeFilter
from messaging.models import Person
from messaging.serializers import AuditEntrySerializer, PersonSerializer


class _Empty(StrictSerializer):
    """A POST that takes no body (an empty object at most)."""


def api_change(request: Request) -> Change:
    return Change(source=AuditSource.API, actor=request.user)


def _person(external_id: str) -> Person:
    if "\x00" in external_id:  # PostgreSQL text cannot hold it: no such person
        raise Http404
    return get_object_or_404(Person, external_id=external_id)


class PersonResubscribe(generics.GenericAPIView):
    required_permissions = {"POST": access.RESUBSCRIBE_PERSON}
    serializer_class = _Empty

    @extend_schema(
        summary="Resubscribe a person (clears unsubscribed_at)",
        request=_Empty,
        responses=answers({200: PersonSerializer}, 400, 404, 415),
    )
    def post(self, request: Request, external_id: str) -> Response:
        person = _person(external_id)
        _Empty(data=request.data).is_valid(raise_exception=True)
        person = person_resubscribe(person=person, change=api_change(request))
        return Response(PersonSerializer(person).data)


class PersonErase(generics.GenericAPIView):
    required_permissions = {"POST": access.ERASE_PERSON}
    serializer_class = _Empty

    @extend_schema(
        summary="Erase a person's personal data (delete and suppress)",
        description="Removes the person's email, phone, push token and attributes, the "
        "addresses and content of their messages and the personal fields of their events, in "
        "one transaction. Ids, event types and times stay, so the metrics do not move. The "
        "email address stays only as a SHA-256 digest on the suppression list (reason "
        "`erased`), which still suppresses it. The person reads `erased: true`.",
        request=_Empty,
        responses=answers({202: PersonSerializer}, 400, 404, 415),
    )
    def post(self, request: Request, external_id: str) -> Response:
        person = _person(external_id)
        _Empty(data=request.data).is_valid(raise_exception=True)
        person = person_erase(person=person, change=api_change(request))
        return Response(PersonSerializer(person).data, status=status.HTTP_202_ACCEPTED)


class AuditFilter(django_filters.FilterSet):
    address = django_filters.CharFilter(
        method="filter_address",
        label="Address (case-insensitive; also finds it once erased, as its digest)",
    )
    person = django_filters.CharFilter(method="filter_person", label="The person's external_id")
    since = ZonedIsoDateTimeFilter(
        field_name="at", lookup_expr="gte", label="At or after (ISO 8601 with a zone)"
    )

    class Meta:
        model = AuditEntry
        fields = ["address", "person", "since"]

    def filter_address(self, queryset, name, value):
        address = normalise_address(value)
        if address.startswith("sha256:"):
            return queryset.filter(address=address)
        return queryset.filter(address__in=[address, address_digest(address)])

    def filter_person(self, queryset, name, value):
        # Their subscription changes and the changes of their address.
        person = Person.objects.filter(external_id=value).values("id", "email").first()
        if person is None:
            return queryset.none()
        who = Q(person_id=person["id"])
        if person["email"]:
            address = normalise_address(person["email"])
            who |= Q(address__in=[address, address_digest(address)])
        return queryset.filter(who)


class AuditList(generics.ListAPIView):
    # The trail of the suppression list and of subscriptions: read with them.
    required_permissions = {"GET": access.VIEW_AUDIT}
    queryset = AuditEntry.objects.select_related("person")
    serializer_class = AuditEntrySerializer
    # Newest first by ``at``, which is not id order (a provider's change is
    # dated at its event, an expiry at its expires_at): keyset on (at, id).
    pagination_class = TimeIdCursorPagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = AuditFilter

    @extend_schema(
        summary="The audit trail of suppression and subscription changes, newest first",
        responses=answers({200: AuditEntrySerializer(many=True)}, 400),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        suppressions_expire_due()  # expiries are in the trail as soon as they are due
        return super().get(request, *args, **kwargs)
