"""REST API of the reporting webhooks (CONTRACT.md "Reporting webhooks (data
out)"). Every method needs messaging.manage_reporting_webhooks (the
deliverability role): the endpoints, their secrets and what was sent to them
are one role's business."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.api import IdCursorPagination, answers
from config import access
from messaging.api import EmptySerializer
from messaging.reporting.delivery import delivery_redeliver
from messaging.reporting.models import ReportingDelivery, ReportingWebhook
from messaging.reporting.serializers import (
    RedeliveredSerializer,
    ReportingDeliverySerializer,
    ReportingWebhookCreatedSerializer,
    ReportingWebhookSerializer,
)
from messaging.reporting.services import reporting_webhook_create, reporting_webhook_update

MANAGE = access.MANAGE_REPORTING_WEBHOOKS


class ReportingWebhookListCreate(generics.ListAPIView):
    required_permissions = {"GET": MANAGE, "POST": MANAGE}
    queryset = ReportingWebhook.objects.all()
    serializer_class = ReportingWebhookSerializer
    pagination_class = IdCursorPagination

    @extend_schema(
        summary="List reporting webhooks (newest first)",
        responses=answers({200: ReportingWebhookSerializer(many=True)}, 400),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Subscribe an endpoint to message events",
        description="The answer carries `secret` (whsec_…), the Standard Webhooks signing "
        "secret; it is shown only here. A URL that resolves to a loopback, private, "
        "link-local or metadata address is a 400 (unless the deployment allows them).",
        request=ReportingWebhookSerializer,
        responses=answers({201: ReportingWebhookCreatedSerializer}, 400, 415),
    )
    def post(self, request: Request) -> Response:
        serializer = ReportingWebhookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = reporting_webhook_create(**serializer.validated_data)
        return Response(
            ReportingWebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED
        )


class ReportingWebhookDetail(generics.GenericAPIView):
    required_permissions = {"GET": MANAGE, "PATCH": MANAGE, "DELETE": MANAGE}
    serializer_class = ReportingWebhookSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(
        summary="A reporting webhook", responses=answers({200: ReportingWebhookSerializer}, 404)
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ReportingWebhookSerializer(get_object_or_404(ReportingWebhook, pk=pk)).data)

    @extend_schema(
        summary="Change a reporting webhook",
        description="Only the fields given change. Enabling an endpoint that was disabled "
        "clears its failure record.",
        request=ReportingWebhookSerializer,
        responses=answers({200: ReportingWebhookSerializer}, 400, 404, 415),
    )
    def patch(self, request: Request, pk: int) -> Response:
        webhook = get_object_or_404(ReportingWebhook, pk=pk)
        serializer = ReportingWebhookSerializer(webhook, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        webhook = reporting_webhook_update(webhook=webhook, **serializer.validated_data)
        return Response(ReportingWebhookSerializer(webhook).data)

    @extend_schema(
        summary="Delete a reporting webhook",
        description="Its pending notifications and its delivery history go with it.",
        responses=answers({204: None}, 404),
    )
    def delete(self, request: Request, pk: int) -> Response:
        get_object_or_404(ReportingWebhook, pk=pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReportingDeliveryList(generics.ListAPIView):
    required_permissions = {"GET": MANAGE}
    serializer_class = ReportingDeliverySerializer
    pagination_class = IdCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return ReportingDelivery.objects.none()
        webhook = get_object_or_404(ReportingWebhook, pk=self.kwargs["pk"])
        return ReportingDelivery.objects.filter(webhook=webhook).select_related("notification")

    @extend_schema(
        summary="A reporting webhook's delivery attempts (newest first)",
        responses=answers({200: ReportingDeliverySerializer(many=True)}, 400, 404),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class ReportingRedeliver(generics.GenericAPIView):
    required_permissions = {"POST": MANAGE}
    serializer_class = EmptySerializer

    @extend_schema(
        summary="Send an attempt's notification again",
        description="Any attempt, failed or delivered: its notification is sent again with "
        "the same webhook-id (so a receiver that keeps ids sees the same one) and a new "
        "retry window.",
        request=EmptySerializer,
        responses=answers({202: RedeliveredSerializer}, 400, 404, 415),
    )
    def post(self, request: Request, pk: int, delivery_id: int) -> Response:
        delivery = get_object_or_404(ReportingDelivery, pk=delivery_id, webhook_id=pk)
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        with transaction.atomic():
            notification = delivery_redeliver(delivery=delivery)
        return Response(
            {"webhook_id": notification.webhook_msg_id, "status": notification.status},
            status=status.HTTP_202_ACCEPTED,
        )
