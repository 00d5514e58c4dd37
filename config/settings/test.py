"""Test settings: speed only. The database, broker and worker are the real ones."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEBUG = False
# The locmem cache keeps rate-limit counters across tests of one process, and every test client
# comes from 127.0.0.1: limits are off here; tests/security/test_rate_limits.py turns them on.
RATELIMIT_ENABLED = False
