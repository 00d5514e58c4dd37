from django.urls import path

from ratings import researcher_views

app_name = "participants"

urlpatterns = [
    path("<slug:slug>/participants/", researcher_views.participant_list, name="list"),
    path("<slug:slug>/participants/<str:code>/decision/", researcher_views.participant_decide, name="decide"),
    path(
        "<slug:slug>/participants/<str:code>/forget/", researcher_views.participant_forget_page, name="forget"
    ),
]
