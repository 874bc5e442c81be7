"""The REST API under /api/v1/ (CONTRACT.md "REST API")."""

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, path, re_path, resolve
from django.views.decorators.csrf import csrf_exempt

from campaigns import api as campaigns_api
from messaging import api as messaging_api
from messaging.audience import api as audience_api
from messaging.reporting import api as reporting_api


@csrf_exempt  # it changes nothing; a CSRF failure page would be HTML
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    # Anything else under /api/v1/ (including a path id that is not an
    # integer) answers in JSON like the rest of the API, not Django's HTML page.
    detail = "Not found."
    if rest and not rest.endswith("/"):
        try:
            resolve(f"{request.path}/")
        except Resolver404:
            pass
        else:
            detail = f"Not found. Every API path ends with a slash: {request.path}/"
    return JsonResponse({"detail": detail}, status=404)


urlpatterns = [
    path("people/", messaging_api.PeopleView.as_view(), name="api-people"),
    path(
        "people/<path:external_id>/unsubscribe/",
        messaging_api.PersonUnsubscribe.as_view(),
        name="api-person-unsubscribe",
    ),
    path(
        "people/<path:external_id>/resubscribe/",
        audience_api.PersonResubscribe.as_view(),
        name="api-person-resubscribe",
    ),
    path(
        "people/<path:external_id>/erase/",
        audience_api.PersonErase.as_view(),
        name="api-person-erase",
    ),
    path("people/<path:external_id>/", messaging_api.PersonDetail.as_view(), name="api-person"),
    path("campaigns/", campaigns_api.CampaignListCreate.as_view(), name="api-campaigns"),
    path("campaigns/<int:pk>/", campaigns_api.CampaignDetail.as_view(), name="api-campaign"),
    path(
        "campaigns/<int:pk>/actions/",
        campaigns_api.ActionCreate.as_view(),
        name="api-campaign-actions",
    ),
    path(
        "campaigns/<int:pk>/metrics/",
        campaigns_api.CampaignMetrics.as_view(),
        name="api-campaign-metrics",
    ),
    path("send/", messaging_api.SendView.as_view(), name="api-send"),
    path("messages/", messaging_api.MessageList.as_view(), name="api-messages"),
    path("messages/<int:pk>/", messaging_api.MessageDetail.as_view(), name="api-message"),
    path(
        "messages/<int:pk>/send/",
        messaging_api.MessageSendDraft.as_view(),
        name="api-message-send",
    ),
    path(
        "messages/<int:pk>/retry/", messaging_api.MessageRetry.as_view(), name="api-message-retry"
    ),
    path(
        "messages/<int:pk>/discard/",
        messaging_api.MessageDiscard.as_view(),
        name="api-message-discard",
    ),
    path(
        "messages/<int:pk>/opened/",
        messaging_api.MessageOpened.as_view(),
        name="api-message-opened",
    ),
    path("events/", messaging_api.PersonEventView.as_view(), name="api-events"),
    path(
        "suppressions/",
        messaging_api.SuppressionListCreate.as_view(),
        name="api-suppressions",
    ),
    path(
        "suppressions/<int:pk>/",
        messaging_api.SuppressionDetail.as_view(),
        name="api-suppression",
    ),
    path("audit/", audience_api.AuditList.as_view(), name="api-audit"),
    path(
        "reporting-webhooks/",
        reporting_api.ReportingWebhookListCreate.as_view(),
        name="api-reporting-webhooks",
    ),
    path(
        "reporting-webhooks/<int:pk>/",
        reporting_api.ReportingWebhookDetail.as_view(),
        name="api-reporting-webhook",
    ),
    path(
        "reporting-webhooks/<int:pk>/deliveries/",
        reporting_api.ReportingDeliveryList.as_view(),
        name="api-reporting-deliveries",
    ),
    path(
        "reporting-webhooks/<int:pk>/deliveries/<int:delivery_id>/redeliver/",
        reporting_api.ReportingRedeliver.as_view(),
        name="api-reporting-redeliver",
    ),
    re_path(r"^(?P<rest>[\s\S]*)$", not_found),
]
