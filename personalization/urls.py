from django.urls import path

from personalization.apis import CustomerDetailApi, CustomerListApi

urlpatterns = [
    path("customers/", CustomerListApi.as_view(), name="customer-list"),
    path("customers/<int:customer_id>/", CustomerDetailApi.as_view(), name="customer-detail"),
]
