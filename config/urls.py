from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

# The admin says whose it is, and its header links back to the pages
# (templates/admin/base_site.html).
admin.site.site_header = admin.site.site_title = "Tidings admin"
admin.site.index_title = "Campaigns, people, messages and suppressions"
admin.site.site_url = "/"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("campaigns.urls")),
    path("", include("messaging.urls")),
    path("", include("messaging.webhooks.urls")),
    path("", include("messaging.tracking.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
