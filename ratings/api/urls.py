from django.urls import path

from ratings.api import participants, views

app_name = "ratings-api"

urlpatterns = [
    path("participant/<str:token>/ratings/", views.rating_submit_api, name="rating-submit"),
    path("participant/<str:token>/device/", views.device_change_api, name="device-change"),
    path("participant/<str:token>/csrf/", views.csrf_token_api, name="csrf"),
    path(
        "studies/<slug:slug>/participants/",
        participants.ParticipantListApi.as_view(),
        name="participant-list",
    ),
    path(
        "studies/<slug:slug>/participants/export/<str:kind>/",
        participants.ParticipantExportApi.as_view(),
        name="participant-export",
    ),
    path(
        "studies/<slug:slug>/participants/<str:code>/decision/",
        participants.ParticipantDecisionApi.as_view(),
        name="participant-decision",
    ),
    path(
        "studies/<slug:slug>/participants/<str:code>/forget/",
        participants.ParticipantForgetApi.as_view(),
        name="participant-forget",
    ),
]
