from django.urls import path

from tracking import views

app_name = "tracking"

urlpatterns = [
    path("t/o/<str:token>.gif", views.open_pixel_view, name="open-pixel"),
    path("t/c/<str:token>", views.click_view, name="click"),
]
