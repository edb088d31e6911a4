from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.views import healthz

handler404 = "core.views.not_found"

api_v1 = [
    path("", include("personalization.urls")),
    path("", include("consent.api_urls")),
    path("", include("campaigns.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("", include("consent.urls")),
    path("", include("tracking.urls")),
    path("", include("campaigns.web_urls")),
    path("anymail/", include("anymail.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
