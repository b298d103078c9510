"""Django settings, read from the environment with embedded defaults.

Defaults give a one-machine setup with nothing to start: SQLite, the in-memory channel
layer, jobs on in-process threads. ``DATABASE_URL=postgres://…``, ``REDIS_URL=redis://…``
and ``JOBS_BACKEND=celery`` switch to PostgreSQL, the Redis channel layer and cache, and
Celery workers on that Redis. A bad value stops start-up with a message naming the variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_database,
    env_decimal,
    env_int,
    env_list,
    env_redis_url,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("AGILE_VAR_DIR", str(BASE_DIR / "var")))

# Local development is the default; a deployment sets DEBUG=0 and a SECRET_KEY.
DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development)."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
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
    "drf_spectacular_sidecar",  # Swagger UI / ReDoc assets served locally: no CDN needed
    "channels",
    "axes",
    "jobs",
    "labeling",
    "aggregation",
    "modeling",
    "reports",
    "frontend",
]

MIDDLEWARE = [
    "labeling.middleware.ApiErrorShape",  # first: the one error shape around everything else
    "config.timing.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "frontend.middleware.NotFoundPage",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- database -------------------------------------------------------------------------
# PostgreSQL: a bounded pool per process (DATABASE_POOL_SIZE connections at most; a server
# process's requests, websockets and job threads share it). See config.env.env_database.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 10, minimum=0)
DATABASES = {"default": env_database(
    "DATABASE_URL", str(VAR_DIR / "db.sqlite3"), pool_size=DATABASE_POOL_SIZE,
    pool_timeout=env_int("DATABASE_POOL_TIMEOUT", 30, minimum=1),
    application_name=env_str("DATABASE_APPLICATION_NAME", "agile-labeling"),
)}
# No ATOMIC_REQUESTS: every write path (viewset saves, services, jobs) opens its own
# transaction, so a multi-row write is all or nothing while reads take no write lock.
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: channel layer, cache, celery ----------------------------------------------
REDIS_URL = env_redis_url("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

JOBS_BACKEND = env_choice("JOBS_BACKEND", "inprocess", ("inprocess", "celery"))
JOBS_THREADS = env_int("JOBS_THREADS", 2, minimum=1)
if JOBS_BACKEND == "celery" and not REDIS_URL:
    raise ImproperlyConfigured("JOBS_BACKEND=celery needs REDIS_URL (the Celery broker).")
CELERY_BROKER_URL = REDIS_URL or "memory://"
# The map steps over a pool's shards are chords: Redis counts the finished shards (the
# shards' results themselves are ShardRun rows in the database).
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_RESULT_EXPIRES = 3600
# Shard size of new pools (rows per shard; 0: one shard, today's layout); a pool's own
# ``shard_rows`` (embed_pool job parameter) wins.
POOL_SHARD_ROWS = env_int("AGILE_SHARD_ROWS", 0, minimum=0)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# --- auth, API --------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is locked out for AXES_COOLOFF_MINUTES (a 429 page);
# a success resets the count. Locking the pair, not the username alone, means an attacker
# elsewhere cannot lock a person out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "frontend/locked_out.html"
AXES_VERBOSE = False

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The one gate for request bodies (NUL, lone surrogates, nesting, size): labeling/parsers.py.
    "DEFAULT_PARSER_CLASSES": [
        "labeling.parsers.JSONParser",
        "labeling.parsers.FormParser",
        "labeling.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "labeling.parsers.JSONRenderer",
        "labeling.parsers.BrowsableAPIRenderer",  # the HTML view, without forms
    ],
    "DEFAULT_PAGINATION_CLASS": "labeling.inputs.Pagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "labeling.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Agile Labeling API",
    "DESCRIPTION": "Concepts, pools, crowd tasks, answers, labels and models.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AnswerValueEnum": "labeling.choices.AnswerValue",
        "RoleEnum": "labeling.choices.Role",
        "LiveMethodEnum": "aggregation.collection.LIVE_METHODS",  # what the live step runs after each answer
        "AggregationMethodEnum": "aggregation.engine.METHODS",  # every engine method (re-aggregation)
    },
}

# --- i18n, static, media ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Under DEBUG, WhiteNoise serves app static files straight from their folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"
POOLS_DIR = Path(env_str("POOLS_DIR", str(VAR_DIR / "pools")))
# Finished embeddings by content hash + encoder, so a pool embedded again starts in seconds.
EMBEDDING_CACHE_DIR = Path(env_str("AGILE_CACHE_DIR", str(VAR_DIR / "cache")))
# Folders a pool's images may be read from (a pool's "source" must lie inside one):
# an expert names a server path, so it is confined to these roots.
# Pools of at least this many items also keep an int8 copy of their classifier features:
# an AL round streams half the bytes (benchmarks/al_scale.py: 5.2 s vs 6.7 s at 10M
# quiet, 7.4 s vs 10.6 s under load; 98.8 % of the top 1,000 agree). 0 = never.
EMBEDDING_INT8_MIN_ROWS = env_int("AGILE_INT8_MIN_ROWS", 1_000_000, minimum=0)
POOL_ROOTS = [Path(p) for p in env_list("AGILE_POOL_ROOTS", [str(VAR_DIR / "uploads"), str(BASE_DIR.parent / "shared" / "data")])]

# --- production hardening: on whenever DEBUG is off ------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Request bodies (JSON, forms) above this many bytes are refused with a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("AGILE_MAX_BODY_BYTES", 2_621_440, minimum=1024)

LOG_LEVEL = env_str("LOG_LEVEL", "WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's default config gives its "django" logger a console handler of its own, which
    # also propagated to ours: every warning was printed twice. One handler, on the root.
    "loggers": {"django": {"handlers": [], "level": LOG_LEVEL, "propagate": True}},
}

# App defaults live in one namespaced dict, read through ``labeling.conf.agile``.
AGILE = {
    "BROKEN_REPORTS_TO_FLAG": env_int("AGILE_BROKEN_REPORTS_TO_FLAG", 2, minimum=1),
    # What one expert label costs, in the currency of the crowd's price per answer: the
    # manager's dashboard prices expert-trained models with it.
    "EXPERT_PRICE_PER_LABEL": env_decimal("AGILE_EXPERT_PRICE_PER_LABEL", "1.00", minimum="0"),
}
