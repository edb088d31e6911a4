"""Tailor's settings, read only from the environment (see .env.example).

With no DATABASE_URL Tailor uses an SQLite file and with no REDIS_URL it runs
tasks in-process with an in-memory cache and channel layer: the embedded mode,
for a first look. Production and the test suite set both.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A local .env file is a convenience for development; real deployments export
# variables. Values already in the environment win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set: export SECRET_KEY (any long random string) or copy "
        ".env.example to .env; `make demo` creates one for you."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
TAILOR_BASE_URL = env.str("TAILOR_BASE_URL", default="http://localhost:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[TAILOR_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "anymail",
    "core",
    "personalization",
    "tracking",
    "consent",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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

# --- Database -----------------------------------------------------------------

DATABASE_URL = env.str("DATABASE_URL", default="")
if not DATABASE_URL:
    VAR_DIR.mkdir(exist_ok=True)  # the embedded SQLite file lives here
DATABASES = {
    "default": env.db_url_config(DATABASE_URL or f"sqlite:///{VAR_DIR / 'tailor.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI Django cannot keep persistent connections, so config/asgi.py
    # turns on psycopg's pool (Django 5.1+); commands and workers keep one
    # persistent connection each instead.
    if env.bool("DATABASE_POOL", default=False):
        DATABASES["default"]["OPTIONS"] = {
            "pool": {"min_size": 1, "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=8), "timeout": 10}
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, cache and channel layer ----------------------------

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tailor",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "tailor:channels"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
# Embedded mode has no broker, so tasks run in the calling process.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
# Tasks are idempotent; acknowledging after the work means a killed worker's
# task is delivered again instead of lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Static schedules; django-celery-beat copies them into the database, where the admin can change them.
CELERY_BEAT_SCHEDULE = {
    "retention-purge": {"task": "consent.tasks.retention_purge_task", "schedule": crontab(hour=3, minute=15)},
    # A safety net: ingest schedules processing itself, this catches anything a lost task left behind.
    "events-process": {"task": "tracking.tasks.events_process_task", "schedule": 30.0},
    # Time-window segment rules flip at known moments: checked every few seconds.
    "segment-checks": {"task": "personalization.tasks.segment_checks_task", "schedule": 5.0},
    "segments-refresh": {"task": "personalization.tasks.segments_refresh_task", "schedule": crontab(minute=7)},
    "traits-recompute": {"task": "personalization.tasks.traits_recompute_task", "schedule": crontab(hour=2, minute=0)},
    "recommender-train": {
        "task": "personalization.tasks.recommender_train_task",
        "schedule": crontab(hour=3, minute=45),
    },
    "purchase-propensity-train": {
        "task": "personalization.tasks.propensity_train_task",
        "args": ["purchase_30d"],
        "schedule": crontab(hour=4, minute=0),
    },
    "churn-propensity-train": {
        "task": "personalization.tasks.propensity_train_task",
        "args": ["churn_90d"],
        "schedule": crontab(hour=4, minute=15),
    },
    "clusterings-run": {"task": "personalization.tasks.clusterings_run_task", "schedule": crontab(hour=2, minute=30)},
    # Scheduled campaigns whose time came, deferred rows now due, winners of finished tests, dead senders.
    "campaigns-due": {"task": "campaigns.tasks.campaigns_due_task", "schedule": 15.0},
}

# --- Email --------------------------------------------------------------------

DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tailor <tailor@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

# Every ANYMAIL_<NAME> variable becomes ANYMAIL["<NAME>"], so any ESP's keys can
# be given without changing code (e.g. ANYMAIL_POSTMARK_SERVER_TOKEN).
ANYMAIL = {name.removeprefix("ANYMAIL_"): value for name, value in env.ENVIRON.items() if name.startswith("ANYMAIL_")}
WEBHOOK_SECRET = env.str("WEBHOOK_SECRET", default="")
if WEBHOOK_SECRET:
    ANYMAIL["WEBHOOK_SECRET"] = WEBHOOK_SECRET

# --- Consent -------------------------------------------------------------------

# "opt-in" (GDPR): tracking and personalization need a person's yes. "opt-out"
# (CCPA style): they are allowed until the person says no. Marketing email
# always needs a confirmed yes (double opt-in or a recorded grant).
CONSENT_REGIME = env.str("CONSENT_REGIME", default="opt-in")
if CONSENT_REGIME not in ("opt-in", "opt-out"):
    raise ImproperlyConfigured(f"CONSENT_REGIME must be 'opt-in' or 'opt-out', not {CONSENT_REGIME!r}.")
# The version of the privacy policy Tailor's own forms show; recorded with every decision they collect.
CONSENT_POLICY_VERSION = env.str("CONSENT_POLICY_VERSION", default="1")
# The shop's name and postal address, shown on Tailor's pages and required in marketing email.
SHOP_NAME = env.str("SHOP_NAME", default="Demo Store")
SHOP_POSTAL_ADDRESS = env.str("SHOP_POSTAL_ADDRESS", default="1 Example Street, 00000 Example City")
# The shop's site (templates link to it) and the currency of amounts that carry none (lifetime value).
SHOP_URL = env.str("SHOP_URL", default="https://shop.example.com")
SHOP_CURRENCY = env.str("SHOP_CURRENCY", default="USD")

# --- Campaigns -------------------------------------------------------------------

# At most this many marketing emails to one person in this many days (0: no cap).
MARKETING_CAP_MESSAGES = env.int("MARKETING_CAP_MESSAGES", default=3)
MARKETING_CAP_DAYS = env.int("MARKETING_CAP_DAYS", default=7)
# Quiet hours in the recipient's time zone, "start-end" (21-8: from 21:00 to 08:00); a send
# that would land in them waits until they end. "0-0" turns them off.
QUIET_HOURS = tuple(int(hour) for hour in env.str("QUIET_HOURS", default="21-8").split("-"))
if len(QUIET_HOURS) != 2 or not all(0 <= hour <= 23 for hour in QUIET_HOURS):
    raise ImproperlyConfigured(f"QUIET_HOURS must be two hours 0-23 like '21-8', not {env.str('QUIET_HOURS')!r}.")
# The ESP's limit, in messages a second for all workers together (0: none).
CAMPAIGN_SEND_RATE = env.int("CAMPAIGN_SEND_RATE", default=0)
# Messages a worker claims at a time, and how many workers send one campaign at once. A batch
# reads consent, frequency and its recipients' data again in some 25 queries, whatever its
# size: 1,000 a batch cost 0.19 ms less CPU a message than 200 (bench/send: 903 against 829
# messages/s), 2,000 gained nothing more. Consent is asked once per batch, so a "no" said
# while a batch goes out (about 2 s for 1,000 per worker) holds from the next batch on.
CAMPAIGN_BATCH_SIZE = env.int("CAMPAIGN_BATCH_SIZE", default=1000)
CAMPAIGN_SEND_CONCURRENCY = env.int("CAMPAIGN_SEND_CONCURRENCY", default=2)
# The domain of the Message-ID header of the email Tailor sends (default: TAILOR_BASE_URL's host).
EMAIL_MESSAGE_ID_DOMAIN = env.str("EMAIL_MESSAGE_ID_DOMAIN", default=urlsplit(TAILOR_BASE_URL).hostname or "localhost")

# --- Auth, i18n, static ---------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served from the apps' folders too, so that a server started without collectstatic
# (the end-to-end tests, a first start) still has the admin's scripts.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = TAILOR_BASE_URL.startswith("https://")

# --- Management API -----------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.IsApiClientOrStaff"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PageNumberPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tailor management API",
    "DESCRIPTION": (
        "Customers, consent, segments, templates and campaigns. Authenticate with a secret key "
        "(`Authorization: Bearer KEY`, created with `manage.py create_api_key` or in the admin) "
        "or a staff session. Errors share one shape: "
        '`{"error": {"code": ..., "message": ..., "details": ...}}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Several models have a "kind": each vocabulary gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "MessageKindEnum": "campaigns.models.MessageKind",
        "SegmentKindEnum": "personalization.models.SegmentKind",
        "IdentityKindEnum": "personalization.models.IdentityKind",
        "ModelKindEnum": "personalization.models.ModelKind",
        "RequestKindEnum": "consent.models.RequestKind",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging ------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
