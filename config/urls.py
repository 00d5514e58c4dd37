from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView

from config.auth import LoginView
from config.health import healthz
from experiments.media import stimulus_image


def api_docs_view(name: str, **initkwargs: Any) -> Callable[..., HttpResponse]:
    """drf_spectacular's view `name`, imported on its first request: importing its views module
    costs every process 0.1 s at start-up, and only a developer reading the API docs needs it."""
    built: list[Callable[..., HttpResponse]] = []

    @csrf_exempt
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not built:
            from drf_spectacular import views

            built.append(getattr(views, name).as_view(**initkwargs))
        return built[0](request, *args, **kwargs)

    return view


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="experiments:study-list", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("img/<str:sha256>.<str:ext>", stimulus_image, name="stimulus-image"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("studies/", include("experiments.urls")),
    path("studies/", include("pilot.urls")),
    path("studies/", include("ratings.researcher_urls")),
    path("s/", include("ratings.urls")),
    path("analysis/", include("analysis.urls")),
    path("api/", include("config.api_urls")),
    path("api/schema/", api_docs_view("SpectacularAPIView"), name="schema"),
    path("api/docs/", api_docs_view("SpectacularSwaggerSplitView", url_name="schema"), name="api-docs"),
    # ReDoc injects its styles inline, which the site-wide policy refuses: its old address leads
    # to the Swagger page, served from our own static files.
    path("api/redoc/", RedirectView.as_view(pattern_name="api-docs", permanent=False), name="api-redoc"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
