from django.urls import path

from ratings import views

app_name = "ratings"

urlpatterns = [
    path("<slug:slug>/", views.study_entry, name="study-entry"),
    path("<slug:slug>/consent/", views.study_consent, name="study-consent"),
    path("<slug:slug>/t/<str:token>/", views.session_page, name="session"),
    path(
        "<slug:slug>/t/<str:token>/questionnaire/", views.session_questionnaire, name="session-questionnaire"
    ),
    path("<slug:slug>/t/<str:token>/display/", views.session_display, name="session-display"),
    path("<slug:slug>/t/<str:token>/instructions/", views.session_instructions, name="session-instructions"),
    path("<slug:slug>/t/<str:token>/next/", views.session_next, name="session-next"),
    path("<slug:slug>/t/<str:token>/leave/", views.session_leave, name="session-leave"),
]
