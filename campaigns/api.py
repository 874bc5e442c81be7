"""REST API: campaigns, their actions, metrics; and the API's shared parts
(cursor pagination, documented error answers)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.metrics import campaign_metrics
from campaigns.models import Campaign, SeriesBasis
from campaigns.serializers import (
    ActionSerializer,
    CampaignDetailSerializer,
    CampaignMetricsSerializer,
    CampaignSerializer,
    CampaignUpdateSerializer,
)
from campaigns.services import action_create, campaign_create, campaign_update
from config import access

_BIGINT_TEXT = re.compile(r"[0-9]{1,19}")
_BIGINT_MAX = 2**63 - 1


def _invalid_cursor() -> serializers.ValidationError:
    # A malformed or tampered cursor is a bad request, not a missing resource.
    return serializers.ValidationError({"cursor": ["Invalid cursor."]})


class IdCursorPagination(CursorPagination):
    """Keyset pages newest first (WHERE id < cursor ORDER BY id DESC LIMIT n):
    the same cost at any depth, and no COUNT."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None
        # DRF leaves the position as the client sent it: checked here, so a
        # bad one never reaches the database.
        position = None if cursor is None else cursor.position
        if position is not None and not self.position_valid(position):
            raise _invalid_cursor()
        return cursor

    def position_valid(self, position: str) -> bool:
        return bool(_BIGINT_TEXT.fullmatch(position)) and int(position) <= _BIGINT_MAX


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TIME_ID_POSITION = re.compile(r"(-?[0-9]{1,18})_([0-9]{1,19})")


class TimeIdCursorPagination(IdCursorPagination):
    """Keyset pages newest first by a time that is not unique nor in id
    order (the audit trail's ``at``), ties by id:
    WHERE (at, id) < (cursor) ORDER BY at DESC, id DESC LIMIT n.

    Not DRF's own position + offset over ``("-at", "-id")``: it skips a tie
    group by OFFSET, which costs as many rows as the group and is capped at
    ``offset_cutoff`` (1000), past which a page of one ``at`` repeats rows;
    and one batch (a CSV import, an expiry sweep) writes thousands of rows
    with the same ``at``. The cursor here holds the last row's (at, id), so
    each page is one seek in an index on (at DESC, id DESC), at any depth
    and through any ties. A cursor's position is "<microseconds since
    1970>_<id>"; PostgreSQL keeps microseconds, so it compares exactly."""

    time_field = "at"

    def position_valid(self, position: str) -> bool:
        return self._position_value(position) is not None

    def _position_value(self, position: str) -> tuple[datetime, int] | None:
        match = _TIME_ID_POSITION.fullmatch(position)
        if match is None or int(match[2]) > _BIGINT_MAX:
            return None
        try:
            at = _EPOCH + int(match[1]) * _MICROSECOND
        except OverflowError:
            return None
        return at, int(match[2])

    def _position_of(self, row) -> str:
        at = getattr(row, self.time_field)
        return f"{(at - _EPOCH) // _MICROSECOND}_{row.pk}"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        reverse = self.cursor is not None and self.cursor.reverse
        position = None if self.cursor is None else self.cursor.position
        time, pk = self.time_field, queryset.model._meta.pk.attname
        if reverse:  # a previous page: the rows just newer, oldest first
            queryset = queryset.order_by(time, pk)
        else:
            queryset = queryset.order_by(f"-{time}", f"-{pk}")
        if position is not None:
            # A row comparison, so PostgreSQL seeks the index to the cursor
            # instead of scanning the rows of its ``at`` (an OR would).
            quote, meta = connection.ops.quote_name, queryset.model._meta
            table = quote(meta.db_table)
            row = f"({table}.{quote(meta.get_field(time).column)}, {table}.{quote(pk)})"
            at, key = self._position_value(position)
            queryset = queryset.filter(
                RawSQL(
                    f"{row} {'>' if reverse else '<'} (%s, %s)",
                    # As the backend stores the time (SQLite: text that
                    # must compare equal to the stored text).
                    (connection.ops.adapt_datetimefield_value(at), key),
                    output_field=BooleanField(),
                )
            )
        rows = list(queryset[: self.page_size + 1])
        self.page = rows[: self.page_size]
        more = len(rows) > self.page_size
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = position is not None, more
        else:
            self.has_next, self.has_previous = more, position is not None
        # An empty page (``since`` changed under the cursor) keeps its
        # cursor as the way back.
        self.previous_position = self._position_of(self.page[0]) if self.page else position
        self.next_position = self._position_of(self.page[-1]) if self.page else position
        self.display_page_controls = self.has_previous or self.has_next
        return self.page

    def get_next_link(self):
        if not self.has_next:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=self.next_position))

    def get_previous_link(self):
        if not self.has_previous:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=self.previous_position))


_ERRORS = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Validation error: an object keyed by field name, each with a list of "
        "reasons (unknown fields are named too).",
    ),
    401: OpenApiResponse(
        OpenApiTypes.OBJECT, description='Missing or wrong token: {"detail": reason}.'
    ),
    403: OpenApiResponse(
        OpenApiTypes.OBJECT, description="Not allowed (e.g. a session without a CSRF token)."
    ),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description='Not found: {"detail": reason}.'),
    409: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description='Not possible in the message\'s current state: {"detail": reason}.',
    ),
    415: OpenApiResponse(OpenApiTypes.OBJECT, description="The body is not JSON."),
    422: OpenApiResponse(
        OpenApiTypes.OBJECT, description='The channel does not track this: {"detail": reason}.'
    ),
}


def answers(ok: dict, *errors: int) -> dict:
    """The documented answers of an endpoint: its successes, its errors, and
    the 401/403 every endpoint can give."""
    return {**ok, **{code: _ERRORS[code] for code in (*errors, 401, 403)}}


class CampaignListCreate(generics.ListCreateAPIView):
    required_permissions = {"GET": access.VIEW_CAMPAIGN, "POST": access.ADD_CAMPAIGN}
    queryset = Campaign.objects.all()
    serializer_class = CampaignSerializer
    pagination_class = IdCursorPagination

    @extend_schema(
        summary="List campaigns (newest first)",
        responses=answers({200: CampaignSerializer(many=True)}, 400),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a campaign",
        request=CampaignSerializer,
        responses=answers({201: CampaignDetailSerializer}, 400, 415),
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = CampaignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = campaign_create(**serializer.validated_data)
        return Response(CampaignDetailSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetail(generics.RetrieveAPIView):
    required_permissions = {"GET": access.VIEW_CAMPAIGN, "PATCH": access.CHANGE_CAMPAIGN}
    queryset = Campaign.objects.prefetch_related("actions__links")
    serializer_class = CampaignDetailSerializer
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(
        summary="A campaign with its actions and their links",
        responses=answers({200: CampaignDetailSerializer}, 404),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Edit a campaign: name, goal event, credit rule and window",
        description="A change of `conversion_event` or `attribution` attributes the "
        "campaign's goal events again, in the background: `attribution_state` reads "
        '"recomputing" (with `attribution_progress`) until the metrics show the new '
        'figures, then "current".',
        request=CampaignUpdateSerializer,
        responses=answers({200: CampaignDetailSerializer}, 400, 404, 415),
    )
    def patch(self, request: Request, pk: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=pk)
        serializer = CampaignUpdateSerializer(campaign, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        campaign_update(campaign=campaign, **serializer.validated_data)
        # Read back: an eager run (no broker) may already have finished.
        return Response(CampaignDetailSerializer(self.get_queryset().get(pk=pk)).data)


class ActionCreate(generics.GenericAPIView):
    required_permissions = {"POST": access.ADD_ACTION}
    serializer_class = ActionSerializer

    @extend_schema(
        summary="Add an action (a message step) to a campaign",
        description="Links are the href of <a> tags and, in bodies that are not HTML, bare "
        "http(s) URLs; each distinct one becomes a tracked Link when track_links is on "
        "and the channel tracks clicks.",
        responses=answers({201: ActionSerializer}, 400, 404, 415),
    )
    def post(self, request: Request, pk: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=pk)
        serializer = ActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        action = action_create(campaign=campaign, **serializer.validated_data)
        return Response(ActionSerializer(action).data, status=status.HTTP_201_CREATED)


# The contract's keys; campaign_metrics also returns extras the pages use.
METRICS_KEYS = (
    "campaign",
    "counts",
    "totals",
    "rates",
    "by_action",
    "by_channel",
    "links",
    "series",
    # Deliverability (CONTRACT.md).
    "by_mailbox_provider",
    "bounce_reasons",
    "sender_health",
    "stale",
)


class CampaignMetrics(generics.GenericAPIView):
    required_permissions = {"GET": access.VIEW_CAMPAIGN}
    serializer_class = CampaignMetricsSerializer

    @extend_schema(
        summary="Campaign metrics, from the pre-aggregated counters",
        parameters=[
            OpenApiParameter(
                "basis",
                str,
                enum=SeriesBasis.values,
                description="series dated by the message's send time (send, default) or by "
                "when each event happened (event)",
            )
        ],
        responses=answers({200: CampaignMetricsSerializer}, 400, 404),
    )
    def get(self, request: Request, pk: int) -> Response:
        basis = request.query_params.get("basis", SeriesBasis.SEND)
        if basis not in SeriesBasis.values:
            raise serializers.ValidationError(
                {"basis": [f"Must be one of: {', '.join(SeriesBasis.values)}."]}
            )
        campaign = get_object_or_404(Campaign, pk=pk)
        metrics = campaign_metrics(campaign, basis=basis)
        body = {key: metrics[key] for key in METRICS_KEYS}
        # Each block's rate terms (numerator, denominator) are for the pages.
        body["by_action"] = [_without_terms(block) for block in body["by_action"]]
        for blocks in ("by_channel", "by_mailbox_provider"):
            body[blocks] = {name: _without_terms(block) for name, block in body[blocks].items()}
        return Response(body)


def _without_terms(block: dict) -> dict:
    return {key: value for key, value in block.items() if key != "terms"}
