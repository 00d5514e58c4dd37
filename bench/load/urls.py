"""The real URLs plus the bare reference endpoint, for bench/load only (DJANGO_ROOT_URLCONF)."""

from django.urls import path

from bench.load.reference import reference_insert
from config.urls import urlpatterns as real_urlpatterns

urlpatterns = [*real_urlpatterns, path("bench/reference/", reference_insert)]
