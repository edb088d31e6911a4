from django.urls import path

from consent import apis

urlpatterns = [
    path("consent/", apis.ConsentStateApi.as_view(), name="consent-state"),
    path("consent/history/", apis.ConsentHistoryApi.as_view(), name="consent-history"),
    path("consent/grant", apis.ConsentGrantApi.as_view(), name="consent-grant"),
    path("consent/withdraw", apis.ConsentWithdrawApi.as_view(), name="consent-withdraw"),
    path("requests/", apis.DataRequestCreateApi.as_view(), name="data-request-create"),
    path("requests/<int:request_id>/", apis.DataRequestDetailApi.as_view(), name="data-request-detail"),
    path("requests/<int:request_id>/export", apis.DataRequestExportApi.as_view(), name="data-request-export"),
]
