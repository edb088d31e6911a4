from django.urls import path

from personalization.apis import CustomerDetailApi, CustomerListApi
from personalization.recommendations.apis import CustomerRecommendationsApi
from personalization.segments.apis import (
    CustomerSegmentsApi,
    SegmentDetailApi,
    SegmentListApi,
    SegmentMembersApi,
    SegmentPreviewApi,
    SegmentRefreshApi,
    SegmentWhyApi,
)

urlpatterns = [
    path("customers/", CustomerListApi.as_view(), name="customer-list"),
    path("customers/<int:customer_id>/", CustomerDetailApi.as_view(), name="customer-detail"),
    path("customers/<int:customer_id>/segments/", CustomerSegmentsApi.as_view(), name="customer-segments"),
    path(
        "customers/<int:customer_id>/recommendations/",
        CustomerRecommendationsApi.as_view(),
        name="customer-recommendations",
    ),
    path("segments/", SegmentListApi.as_view(), name="segment-list"),
    path("segments/preview/", SegmentPreviewApi.as_view(), name="segment-preview"),
    path("segments/<int:segment_id>/", SegmentDetailApi.as_view(), name="segment-detail"),
    path("segments/<int:segment_id>/refresh/", SegmentRefreshApi.as_view(), name="segment-refresh"),
    path("segments/<int:segment_id>/members/", SegmentMembersApi.as_view(), name="segment-members"),
    path("segments/<int:segment_id>/why/<int:customer_id>/", SegmentWhyApi.as_view(), name="segment-why"),
]
