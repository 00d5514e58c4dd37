from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

urlpatterns = [
    path("token/", obtain_auth_token, name="api-token"),
    path("", include("experiments.api.urls")),
    path("", include("ratings.api.urls")),
    path("", include("analysis.api.urls")),
]
