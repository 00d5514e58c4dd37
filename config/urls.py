from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.auth import LoginView
from config.health import healthz
from experiments.media import stimulus_image

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="experiments:study-list", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("img/<str:sha256>.<str:ext>", stimulus_image, name="stimulus-image"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("studies/", include("experiments.urls")),
    path("studies/", include("ratings.pilot_urls")),
    path("s/", include("ratings.urls")),
    path("analysis/", include("analysis.urls")),
    path("api/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # ReDoc injects its styles inline, which the site-wide policy refuses: its old address leads
    # to the Swagger page, served from our own static files.
    path("api/redoc/", RedirectView.as_view(pattern_name="api-docs", permanent=False), name="api-redoc"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
