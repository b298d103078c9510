"""Typed readers for settings from the environment.

Each helper fails at start with a message naming the variable, so a bad deployment value
never surfaces later as a confusing runtime error (healthchecks' ``hc/settings.py`` habit).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

# SQLite as a web app's database: WAL lets readers run beside the writer, NORMAL sync is
# safe under WAL, and IMMEDIATE transactions take the write lock up front so a request and
# a job thread never deadlock upgrading a read lock.
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_database(name: str, default_sqlite_path: str, *, pool_size: int = 10, pool_timeout: int = 30,
                 application_name: str = "agile-labeling") -> dict[str, object]:
    """``DATABASE_URL`` (sqlite:///path or postgres://user:pass@host:port/db) as a Django DATABASES entry.

    PostgreSQL gets a bounded connection pool (Django's built-in psycopg pool): each
    process holds at most ``pool_size`` connections whatever the load; a request that
    finds them all busy waits up to ``pool_timeout`` seconds, then gets a 503.
    ``pool_size=0`` turns the pool off: one connection per request, closed at its end
    (for a deployment behind PgBouncer).
    """
    import dj_database_url

    raw = os.environ.get(name)
    if not raw:
        # A fresh clone has no var/ yet; SQLite cannot create a file in a missing folder.
        Path(default_sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": default_sqlite_path, "OPTIONS": SQLITE_OPTIONS}
    scheme = urlparse(raw).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"{name} has scheme {scheme!r}; use sqlite:///path/to/db.sqlite3 or postgres://user:pass@host:port/name."
        )
    try:
        # CONN_MAX_AGE stays 0: a persistent connection per request thread is what
        # exhausted PostgreSQL under ASGI (each request runs in its own thread).
        # Health checks: the pool checks a connection before lending it (a restarted
        # PostgreSQL leaves broken ones behind).
        config = dict(dj_database_url.parse(raw, conn_max_age=0, conn_health_checks=True))
    except Exception as exc:  # dj_database_url raises several types for malformed URLs
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
    if scheme == "sqlite":
        config["OPTIONS"] = SQLITE_OPTIONS
        return config
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} names no database (add /name at the end).")
    options = dict(config.get("OPTIONS") or {})  # type: ignore[call-overload]
    options["application_name"] = application_name
    if pool_size > 0:
        options["pool"] = {"min_size": min(2, pool_size), "max_size": pool_size, "timeout": pool_timeout}
    config["OPTIONS"] = options
    return config


def env_redis_url(name: str) -> str | None:
    raw = os.environ.get(name)
    if not raw:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in {"redis", "rediss", "unix"} or not (parsed.hostname or parsed.path):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a Redis URL; use redis://host:port/db.")
    return raw
