import ipaddress
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    development_secret_key,
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_json,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    # Whatever serves or works with DEBUG off (config.wsgi, manage.py
    # runserver and serve_demo, Celery workers) needs the key from the
    # environment, so every process signs sessions and tracking tokens
    # alike. DEBUG and manage.py's other commands (seed_demo, migrate…) fall
    # back to a random key kept under var/.
    if not DEBUG and not env_bool("TIDINGS_COMMAND_LINE", False):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = development_secret_key(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "campaigns",
    "messaging",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (pages' CSS, the API docs' Swagger UI) with DEBUG off,
    # after collectstatic, without a separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.headers.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
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

DATABASES = {"default": env_database("DATABASE_URL", "sqlite:///var/tidings.sqlite3")}
_db = DATABASES["default"]
if _db["ENGINE"].endswith("sqlite3"):
    name = Path(_db["NAME"])
    if not name.is_absolute():
        name = BASE_DIR / name
    name.parent.mkdir(parents=True, exist_ok=True)
    _db["NAME"] = str(name)
    _db["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
else:
    # A new connection costs ~5 ms; keep them (PERFORMANCE.md: CONN_MAX_AGE=0
    # cut one-event requests from ~1.5k/s to ~200/s).
    _db["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 600)
    _db["CONN_HEALTH_CHECKS"] = True
    # Server-side prepared statements give the OFFSET/keyset queries generic
    # plans that can be 10x slower; we batch instead of repeating statements.
    _db["OPTIONS"] = {"prepare_threshold": None}
    # One test database per database name, so checkouts side by side never share one.
    _db["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", f"test_{_db['NAME']}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise reads it at start-up (and warns when it is missing); collectstatic fills it.
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# Headers and cookie flags (tests/security/test_hardening.py asserts them).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Pages run no inline script; the API docs' Swagger UI does (config.headers
# leaves them out).
TIDINGS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)

# Email: only for password reset, which is offered only when EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tidings@localhost")

SECURE_SSL = env_bool("SECURE_SSL", False)
if SECURE_SSL:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Roles (config.access): every view names the permission each method needs.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "config.access.RolePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Depth- and size-limited (config.safe_json): 400 / 413, never a 500.
    "DEFAULT_PARSER_CLASSES": ["config.safe_json.LimitedJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tidings API",
    "DESCRIPTION": "Campaign messaging tracker: people, campaigns, sending, messages, metrics.",
    "VERSION": "1",
    # Separate request and response components, so read-only fields (id,
    # created_at) are not advertised as inputs the API would reject.
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Status names appear as a message's status and as a reporting webhook's
    # events: one enum.
    "ENUM_NAME_OVERRIDES": {"StatusEnum": "campaigns.vocabulary.Status"},
}

# --- Celery -----------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    env_url("REDIS_URL", REDIS_URL, schemes=("redis", "rediss"))
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    # The hard limit kills the task before the soft one lets it record what it
    # knows; Celery would refuse every enqueue (after the commit) instead.
    raise ImproperlyConfigured(
        f"CELERY_TASK_TIME_LIMIT={CELERY_TASK_TIME_LIMIT} must be greater than "
        f"CELERY_TASK_SOFT_TIME_LIMIT={CELERY_TASK_SOFT_TIME_LIMIT}."
    )
# A task whose worker died is redelivered once this many seconds have passed
# since it was taken (Redis has no per-connection acks). Sends are idempotent,
# so a redelivery while the first run is still going only repeats work.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10, minimum=1),
}
# Celery's Django fixup closes the database connection around every task
# (PERFORMANCE.md: a one-write task fell from ~640/s to ~156/s). It keeps
# them for this many tasks instead; config.celery closes broken or expired
# connections between tasks as Django does between requests.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
# Beat keeps its schedule in memory (DESIGN.md "The send pipeline" 7): the
# sweepers run on fixed intervals, so nothing is worth persisting, and a
# schedule file would make beat depend on a writable directory (it used to
# live under var/, which exists only in development, and beat died without
# it while the worker kept running). config.celery checks at worker start-up
# that the scheduler can run and stops the worker loudly when it cannot.
CELERY_BEAT_SCHEDULER = "celery.beat:Scheduler"
TIDINGS_SWEEP_INTERVAL_SECONDS = env_int("TIDINGS_SWEEP_INTERVAL_SECONDS", 60, minimum=1)
TIDINGS_WEBHOOK_SWEEP_INTERVAL_SECONDS = env_int(
    "TIDINGS_WEBHOOK_SWEEP_INTERVAL_SECONDS", 30, minimum=1
)
CELERY_BEAT_SCHEDULE = {
    # Messages with no progress (a lost enqueue, a worker killed mid-call).
    "sweep-messages": {
        "task": "messaging.sweep_messages",
        "schedule": TIDINGS_SWEEP_INTERVAL_SECONDS,
    },
    # Webhook inbox: failed applies, and callbacks that beat their message.
    "sweep-webhooks": {
        "task": "messaging.sweep_webhooks",
        "schedule": TIDINGS_WEBHOOK_SWEEP_INTERVAL_SECONDS,
    },
    # Webhook inbox retention: applied requests past TIDINGS_INBOX_RETENTION_DAYS.
    "prune-webhook-inbox": {
        "task": "messaging.prune_webhook_inbox",
        "schedule": 6 * 3600,
    },
    # Reporting webhooks: due notifications (retries, and any whose
    # enqueue or worker was lost).
    "deliver-reporting-webhooks": {
        "task": "messaging.deliver_reporting_webhooks",
        "schedule": env_int("TIDINGS_REPORTING_SWEEP_INTERVAL_SECONDS", 10, minimum=1),
    },
    # Suppressions whose expiry passed: removed, the expiry recorded.
    "expire-suppressions": {
        "task": "messaging.expire_suppressions",
        "schedule": env_int("TIDINGS_SUPPRESSION_SWEEP_INTERVAL_SECONDS", 300, minimum=1),
    },
}

# --- Tidings ----------------------------------------------------------------
_PROVIDER_BACKENDS = ("simulated", "capture")
TIDINGS_PROVIDERS = env_choice("TIDINGS_PROVIDERS", "simulated", _PROVIDER_BACKENDS)
TIDINGS_PROVIDER_BY_CHANNEL = {
    channel: env_choice(
        f"TIDINGS_PROVIDER_{channel.upper()}", TIDINGS_PROVIDERS, _PROVIDER_BACKENDS
    )
    for channel in ("email", "sms", "push", "slack", "webhook", "airship")
}
TIDINGS_PUBLIC_URL = env_url(
    "TIDINGS_PUBLIC_URL", "http://127.0.0.1:8000", schemes=("http", "https")
)
# Send pipeline: messages per task, provider tries per attempt (exponential
# backoff from the base), and when a message with no progress is swept
# (CELERY_BEAT_SCHEDULE runs the sweeper).
TIDINGS_SEND_CHUNK_SIZE = env_int("TIDINGS_SEND_CHUNK_SIZE", 100, minimum=1)
TIDINGS_SEND_MAX_TRIES = env_int("TIDINGS_SEND_MAX_TRIES", 5, minimum=1)
TIDINGS_SEND_RETRY_BASE_SECONDS = env_int("TIDINGS_SEND_RETRY_BASE_SECONDS", 30, minimum=0)
TIDINGS_SEND_STALE_SECONDS = env_int("TIDINGS_SEND_STALE_SECONDS", 600, minimum=1)
# How many times the sweeper sends a message with no answer again (same key)
# before it settles it as failed "outcome unknown".
TIDINGS_SWEEP_MAX_RESENDS = env_int("TIDINGS_SWEEP_MAX_RESENDS", 3, minimum=0)
# Every provider call's own timeout: shorter than the task's soft limit, so a
# slow provider is an unknown outcome the worker records, never a killed task.
TIDINGS_PROVIDER_TIMEOUT_SECONDS = env_int(
    "TIDINGS_PROVIDER_TIMEOUT_SECONDS", min(30, CELERY_TASK_SOFT_TIME_LIMIT // 2), minimum=1
)
if TIDINGS_PROVIDER_TIMEOUT_SECONDS >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"TIDINGS_PROVIDER_TIMEOUT_SECONDS={TIDINGS_PROVIDER_TIMEOUT_SECONDS} must be less than "
        f"CELERY_TASK_SOFT_TIME_LIMIT={CELERY_TASK_SOFT_TIME_LIMIT}."
    )
# Soft-bounce policy (CONTRACT.md): this many consecutive soft bounces of one
# address (a delivery in between resets the count) suppress it for this many days.
TIDINGS_SOFT_BOUNCE_LIMIT = env_int("TIDINGS_SOFT_BOUNCE_LIMIT", 3, minimum=1)
TIDINGS_SOFT_BOUNCE_SUPPRESS_DAYS = env_int("TIDINGS_SOFT_BOUNCE_SUPPRESS_DAYS", 7, minimum=1)
# Capture backend: how long its answer takes after it has recorded a batch.
TIDINGS_CAPTURE_LATENCY_MS = env_int("TIDINGS_CAPTURE_LATENCY_MS", 0)
# Simulated providers: seed, speed (virtual seconds per real second for live
# callbacks), per-channel rate overrides as JSON ({"email": {"open": 0.5}}),
# and the SendGrid signing key (PEM) matching SENDGRID_WEBHOOK_VERIFICATION_KEY.
TIDINGS_SIMULATOR_SEED = env_int("TIDINGS_SIMULATOR_SEED", 0)
TIDINGS_SIMULATOR_SPEED = env_int("TIDINGS_SIMULATOR_SPEED", 600, minimum=1)
TIDINGS_SIMULATOR_RATES = env_json("TIDINGS_SIMULATOR_RATES", "{}")
TIDINGS_SIMULATOR_SENDGRID_KEY = env_str("TIDINGS_SIMULATOR_SENDGRID_KEY")
# Applied webhook requests are kept this many days, then pruned daily
# (messaging.webhooks.retention); unapplied ones are kept until applied.
TIDINGS_INBOX_RETENTION_DAYS = env_int("TIDINGS_INBOX_RETENTION_DAYS", 30, minimum=1)
# Webhook inbox recovery: a row still pending after this long lost its
# process while applying; a failed apply is first retried after this long.
TIDINGS_WEBHOOK_STALE_PENDING_SECONDS = env_int(
    "TIDINGS_WEBHOOK_STALE_PENDING_SECONDS", 30, minimum=1
)
TIDINGS_WEBHOOK_FIRST_RETRY_SECONDS = env_int("TIDINGS_WEBHOOK_FIRST_RETRY_SECONDS", 15)
TIDINGS_WEBHOOK_MAX_BYTES = env_int("TIDINGS_WEBHOOK_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(TIDINGS_WEBHOOK_MAX_BYTES, 2_621_440)
# The outbound address guard (config.outbound): true lets outgoing requests
# go to loopback, private and link-local addresses.
TIDINGS_OUTBOUND_ALLOW_PRIVATE = env_bool("TIDINGS_OUTBOUND_ALLOW_PRIVATE", False)
# Reporting webhooks (messaging.reporting): each POST's timeout; the retry
# schedule (exponential from the base, each delay capped, jittered) inside a
# window of TIDINGS_REPORTING_RETRY_HOURS after the first try, after which the
# notification is failed; an endpoint failing that long is disabled. A
# worker's claim on a notification lasts TIDINGS_REPORTING_LEASE_SECONDS (a
# killed worker's notification is sent again after it); beat looks for due
# notifications every TIDINGS_REPORTING_SWEEP_INTERVAL_SECONDS.
TIDINGS_REPORTING_TIMEOUT_SECONDS = env_int("TIDINGS_REPORTING_TIMEOUT_SECONDS", 10, minimum=1)
TIDINGS_REPORTING_RETRY_BASE_SECONDS = env_int(
    "TIDINGS_REPORTING_RETRY_BASE_SECONDS", 30, minimum=1
)
TIDINGS_REPORTING_RETRY_MAX_DELAY_SECONDS = env_int(
    "TIDINGS_REPORTING_RETRY_MAX_DELAY_SECONDS", 6 * 3600, minimum=1
)
TIDINGS_REPORTING_RETRY_HOURS = env_int("TIDINGS_REPORTING_RETRY_HOURS", 72, minimum=1)
TIDINGS_REPORTING_DISABLE_AFTER_HOURS = env_int(
    "TIDINGS_REPORTING_DISABLE_AFTER_HOURS", 72, minimum=1
)
TIDINGS_REPORTING_LEASE_SECONDS = env_int("TIDINGS_REPORTING_LEASE_SECONDS", 60, minimum=1)
if TIDINGS_REPORTING_LEASE_SECONDS <= TIDINGS_REPORTING_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        f"TIDINGS_REPORTING_LEASE_SECONDS={TIDINGS_REPORTING_LEASE_SECONDS} must be greater "
        f"than TIDINGS_REPORTING_TIMEOUT_SECONDS={TIDINGS_REPORTING_TIMEOUT_SECONDS}."
    )
TIDINGS_REPORTING_BATCH_SIZE = env_int("TIDINGS_REPORTING_BATCH_SIZE", 200, minimum=1)
# Keep-alive connections per endpoint and worker process, sending side by side.
TIDINGS_REPORTING_CONNECTIONS = env_int("TIDINGS_REPORTING_CONNECTIONS", 4, minimum=1)
TIDINGS_REPORTING_TASK_SECONDS = env_int("TIDINGS_REPORTING_TASK_SECONDS", 60, minimum=1)
TIDINGS_REPORTING_SWEEP_INTERVAL_SECONDS = env_int(
    "TIDINGS_REPORTING_SWEEP_INTERVAL_SECONDS", 10, minimum=1
)
# How long a process trusts its "is any reporting webhook enabled?" answer
# (ingest skips the outbox statement while none is).
TIDINGS_REPORTING_CACHE_SECONDS = env_int("TIDINGS_REPORTING_CACHE_SECONDS", 5)
# API request bodies (a 1,000-person send is ~50 kB).
TIDINGS_API_MAX_BYTES = env_int("TIDINGS_API_MAX_BYTES", 1024 * 1024, minimum=1024)

# Deliverability: hours after which a sent message with no delivery report is
# stale; proxies (addresses or CIDR ranges) whose X-Forwarded-For is trusted
# for the client address of tracking hits; Apple Mail Privacy Protection's
# proxy ranges (the data file shipped in messaging/tracking/data/ unless set).
TIDINGS_STALE_HOURS = env_int("TIDINGS_STALE_HOURS", 24, minimum=1)
TIDINGS_TRUSTED_PROXIES = env_list("TIDINGS_TRUSTED_PROXIES")
for _proxy in TIDINGS_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TIDINGS_TRUSTED_PROXIES: {_proxy!r} is not an address or CIDR range"
        ) from None
TIDINGS_APPLE_PROXY_RANGES_FILE = env_str("TIDINGS_APPLE_PROXY_RANGES_FILE")

# Provider secrets: comma-separated lists so a secret can be rotated.
SENDGRID_WEBHOOK_VERIFICATION_KEY = env_list("SENDGRID_WEBHOOK_VERIFICATION_KEY")
TWILIO_AUTH_TOKEN = env_list("TWILIO_AUTH_TOKEN")
MAILGUN_WEBHOOK_SIGNING_KEY = env_list("MAILGUN_WEBHOOK_SIGNING_KEY")
POSTMARK_WEBHOOK_AUTH = env_list("POSTMARK_WEBHOOK_AUTH")
SES_SNS_TOPIC_ARNS = env_list("SES_SNS_TOPIC_ARNS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
