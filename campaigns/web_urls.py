from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("m/<str:token>", views.message_view, name="message-view"),
]
