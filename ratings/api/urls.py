from django.urls import path

from ratings.api import views

app_name = "ratings-api"

urlpatterns = [
    path("participant/<str:token>/ratings/", views.rating_submit_api, name="rating-submit"),
    path("participant/<str:token>/device/", views.device_change_api, name="device-change"),
    path("participant/<str:token>/csrf/", views.csrf_token_api, name="csrf"),
]
