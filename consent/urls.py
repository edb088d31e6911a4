from django.urls import path

from consent import views

app_name = "consent"

urlpatterns = [
    path("u/<str:token>", views.unsubscribe_view, name="unsubscribe"),
    path("preferences/<str:token>", views.preferences_view, name="preferences"),
    path("subscribe", views.subscribe_view, name="subscribe"),
    path("subscribe/form", views.subscribe_form_view, name="subscribe-form"),
    path("subscribe/confirm/<str:token>", views.subscribe_confirm_view, name="subscribe-confirm"),
]
