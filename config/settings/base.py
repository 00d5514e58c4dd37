"""Settings for every deployment, read from the environment (12-factor).

Every variable is listed in `.env.example`. Secrets have no default. `scripts/run` writes a
development `.env` on first start.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env.bool("DJANGO_READ_DOT_ENV", default=True) and env_file.exists():
    environ.Env.read_env(str(env_file), overwrite=False)

# --- Core -----------------------------------------------------------------------------------
SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="")  # public base URL for links shown to researchers
# Where a pilot's simulated participants connect (e.g. http://127.0.0.1:8000 behind a proxy);
# empty: SITE_URL, else the address the researcher used to start the pilot.
PILOT_BASE_URL = env("PILOT_BASE_URL", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "experiments",
    "ratings",
    "analysis",
    "pilot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "config.middleware.RejectNulCharactersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Only bench/load sets another one (its bare reference endpoint next to the real URLs).
ROOT_URLCONF = env("DJANGO_ROOT_URLCONF", default="config.urls")
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The participant hot path's statements are prepared once per connection (config.db); nothing else
# is (psycopg counts statements up to this threshold before it prepares one by itself).
DB_PREPARE = env.bool("DJANGO_DB_PREPARE", default=True)
if DB_PREPARE and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1
if env("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "experiments:study-list"
LOGOUT_REDIRECT_URL = "login"

# --- I18N -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# The languages the participant pages are translated to (locale/); a study offers some of them.
PARTICIPANT_LANGUAGES = [("en", "English"), ("zh-hans", "简体中文"), ("de", "Deutsch")]
LANGUAGES = PARTICIPANT_LANGUAGES
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "var" / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env("DJANGO_MEDIA_URL", default="/media/")
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
# Stimulus files go through the storage API: set DJANGO_STORAGE_BACKEND to
# "storages.backends.s3.S3Storage" (and the AWS_* variables of django-storages) for object storage.
STORAGES = {
    "default": {
        "BACKEND": env("DJANGO_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {
        "BACKEND": env(
            "DJANGO_STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
AWS_QUERYSTRING_AUTH = env.bool("AWS_QUERYSTRING_AUTH", default=True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Largest stimulus archive accepted, in bytes (uploads stream to a temporary file above 5 MiB).
STIMULUS_UPLOAD_MAX_BYTES = env.int("STIMULUS_UPLOAD_MAX_BYTES", default=2 * 1024**3)
# Stimulus imports: caps against zip bombs and runaway archives (checked before anything is read).
STIMULUS_IMPORT_MAX_UNPACKED_BYTES = env.int("STIMULUS_IMPORT_MAX_UNPACKED_BYTES", default=4 * 1024**3)
# One file of an upload is read into memory whole (decoded and hashed): cap it. 64 MiB is far above
# any generated image (a 40 MP PNG, the pixel limit, compresses below it).
STIMULUS_IMPORT_MAX_MEMBER_BYTES = env.int("STIMULUS_IMPORT_MAX_MEMBER_BYTES", default=64 * 1024**2)
STIMULUS_IMPORT_MAX_MEMBERS = env.int("STIMULUS_IMPORT_MAX_MEMBERS", default=200_000)
STIMULUS_IMPORT_MAX_RATIO = env.int("STIMULUS_IMPORT_MAX_RATIO", default=100)  # unpacked / packed per member

# --- Security -------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
# MTurk shows the study inside a frame on its own site, where browsers drop Lax cookies: studies run
# on MTurk need "None" (HTTPS only; it requires the Secure flag, which production sets).
CSRF_COOKIE_SAMESITE = env("DJANGO_CSRF_COOKIE_SAMESITE", default="Lax")
SESSION_COOKIE_SAMESITE = env("DJANGO_SESSION_COOKIE_SAMESITE", default="Lax")
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Origins a participant's completion form may post to (MTurk's externalSubmit).
CSP_FORM_ACTION_EXTRA = env.list(
    "CSP_FORM_ACTION_EXTRA",
    default=["https://www.mturk.com", "https://workersandbox.mturk.com"],
)

# --- Rate limits (config/ratelimit.py; per client IP and minute unless said otherwise) -------
# Off for load benchmarks that run many participants from one address.
RATELIMIT_ENABLED = env.bool("RATELIMIT_ENABLED", default=True)
# Study link and consent form. A class in one lab behind one NAT address starts together: be generous.
RATELIMIT_ENTRY_PER_MINUTE = env.int("RATELIMIT_ENTRY_PER_MINUTE", default=60)
# Rating submissions per session token: a person rates at most about one image a second, retries included.
RATELIMIT_RATING_PER_MINUTE = env.int("RATELIMIT_RATING_PER_MINUTE", default=120)
# Rating submissions per client IP, all sessions together (a lab's participants share one address).
RATELIMIT_RATING_IP_PER_MINUTE = env.int("RATELIMIT_RATING_IP_PER_MINUTE", default=1200)
# Addresses or networks of our reverse proxies: behind them the client is read from X-Forwarded-For.
TRUSTED_PROXY_IPS = env.list("TRUSTED_PROXY_IPS", default=[])

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
CACHES = {"default": env.cache("DJANGO_CACHE_URL", default="locmemcache://")}
# Shared counters (rate limits, log-in lock-out) need a shared cache: DJANGO_CACHE_URL=redis://...
# A Redis cache fails open here, so that a Redis outage never refuses a participant.
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "config.cache.FailOpenRedisCache"

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None  # results live in the database (AnalysisRun, StimulusImport)
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=30 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=35 * 60)
# Longer than the longest hard time limit, or unacknowledged tasks are delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=40 * 60),
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
# Without a broker (no Redis could be had), `scripts/run` sets this and jobs run in the web process.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AIGC image quality studies API",
    "DESCRIPTION": "Run subjective quality studies of AI-generated images and export MOS.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Analysis runs and stimulus imports share one job-status choice set: name its enum once.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "analysis.models.AnalysisRun.Status",
        "AnnotationTaskKindEnum": "experiments.models.AnnotationTask.Kind",
        # The name the import kind had before annotation tasks brought a second "kind".
        "KindEnum": "experiments.models.StimulusImport.Kind",
    },
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

# --- Analysis runs ----------------------------------------------------------------------------
# A running run whose heartbeat is older than this belongs to a dead worker and is claimed again;
# keep it above the longest step between heartbeats. Pending runs not published for
# ANALYSIS_RUN_PENDING_SECONDS (broker down, message lost) are enqueued again by the sweep.
ANALYSIS_RUN_STALE_SECONDS = env.int("ANALYSIS_RUN_STALE_SECONDS", default=10 * 60)
ANALYSIS_RUN_PENDING_SECONDS = env.int("ANALYSIS_RUN_PENDING_SECONDS", default=2 * 60)
# Stimulus imports and pilots not published for this long (broker down, message lost) are
# published again by their sweeps.
JOB_PENDING_SECONDS = env.int("JOB_PENDING_SECONDS", default=2 * 60)

# --- Periodic jobs (`celery -A config beat`, next to the worker; scripts/run starts both) -----
# Schedules are timedeltas, not celery.schedules.crontab: importing Celery here would cost every
# process its start-up time.
# name: (task, minutes between runs)
_PERIODIC_JOBS = {
    "analysis-runs-sweep": ("analysis.tasks.analysis_runs_sweep_task", 2),
    "stimulus-imports-sweep": ("experiments.tasks.stimulus_imports_sweep_task", 2),
    "pilot-runs-sweep": ("pilot.tasks.pilot_runs_sweep_task", 2),
    "metric-benchmarks-sweep": ("analysis.benchmark.tasks.metric_benchmarks_sweep_task", 2),
    # Abandoned sessions give their trials back.
    "sessions-expire": ("ratings.tasks.expire_sessions_task", 1),
    # The counters from the trials: catches a recount whose publish failed after an analysis
    # changed the exclusions.
    "stimulus-loads-recount": ("ratings.tasks.recount_stimulus_loads_task", 10),
    # Precision studies: the rater screening keeps up with the ratings.
    "precision-screenings": ("analysis.tasks.start_precision_screenings_task", 15),
}
for _name, (_task, _minutes) in _PERIODIC_JOBS.items():
    CELERY_BEAT_SCHEDULE[_name] = {"task": _task, "schedule": timedelta(minutes=_minutes)}
# Every periodic job every N seconds instead (tests, benchmarks, demos); 0: the schedules above.
CELERY_BEAT_EVERY_SECONDS = env.float("CELERY_BEAT_EVERY_SECONDS", default=0)
if CELERY_BEAT_EVERY_SECONDS > 0:
    for _entry in CELERY_BEAT_SCHEDULE.values():
        _entry["schedule"] = CELERY_BEAT_EVERY_SECONDS
