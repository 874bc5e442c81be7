from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from messaging.health import healthz

# The admin says whose it is, and its header links back to the pages
# (templates/admin/base_site.html).
admin.site.site_header = admin.site.site_title = "Tidings admin"
admin.site.index_title = "Campaigns, people, messages and suppressions"
admin.site.site_url = "/"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Login and logout only: password reset sends email, so it exists only
    # when email is configured (EMAIL_HOST). The admin changes passwords.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("campaigns.urls")),
    path("", include("messaging.urls")),
    path("", include("messaging.webhooks.urls")),
    path("", include("messaging.tracking.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.EMAIL_HOST:
    urlpatterns.insert(3, path("accounts/", include("django.contrib.auth.urls")))

if settings.DEBUG:
    # The demo's receiver of the reporting webhooks (messaging.reporting.devinbox).
    from messaging.reporting.devinbox import webhook_inbox

    urlpatterns.append(path("dev/webhook-inbox/", webhook_inbox, name="dev-webhook-inbox"))
