"""One env-driven settings module.

With no environment at all the project runs on a SQLite file under ``var/`` with a Celery
broker on the local filesystem (kombu's ``filesystem://`` transport), so the embedded default
runs exactly the same task code as production. ``DATABASE_URL`` and ``CELERY_BROKER_URL``
switch to PostgreSQL and Redis.
"""

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


class SettingError(ValueError):
    pass


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingError(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingError(f"{name} must be a boolean (true/false), got {raw!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_seconds_map(prefix: str) -> dict[str, int]:
    """Every ``<prefix><NAME>=<seconds>`` variable as ``{"<name>": seconds}``; rejects non-positive values."""
    values = {}
    for name, raw in os.environ.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            seconds = env_int(name, 0)
            if seconds <= 0:
                raise SettingError(f"{name} must be a positive number of seconds, got {raw!r}")
            values[name[len(prefix) :].lower()] = seconds
    return values


def database_from_url(url: str) -> dict:
    """Parse ``postgres://user:pass@host:port/name?options`` or ``sqlite:///path``."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql", "pgsql"):
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "USER": unquote(parsed.username or "postgres"),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "127.0.0.1",
            "PORT": str(parsed.port or 5432),
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 600),
            # A health check costs a round trip per request; a broken connection fails one request
            # and is replaced, which the dispatcher's clients retry anyway.
            "CONN_HEALTH_CHECKS": env_bool("DB_CONN_HEALTH_CHECKS", False),
            # Server-side binding lets psycopg prepare the statements a process repeats (the
            # dispatcher's claim and heartbeat), so PostgreSQL does not plan them on every call.
            "OPTIONS": {
                "server_side_binding": env_bool("DB_SERVER_SIDE_BINDING", True),
                "prepare_threshold": env_int("DB_PREPARE_THRESHOLD", 2),
                **options,
            },
            "TEST": {"NAME": env_str("TEST_DATABASE_NAME") or None},
        }
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        return sqlite_database(path)
    raise SettingError(f"DATABASE_URL scheme {parsed.scheme!r} is not supported (postgres:// or sqlite:///)")


BROKER_SCHEMES = ("filesystem", "redis", "rediss", "sentinel", "amqp", "amqps", "pyamqp", "memory")


def broker_from_url(url: str) -> str:
    """Check ``CELERY_BROKER_URL`` here: a typo would otherwise surface only when a task is sent."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in BROKER_SCHEMES:
        shown = f"scheme {scheme!r}" if scheme else f"{url!r} (no scheme)"
        raise SettingError(
            f"CELERY_BROKER_URL {shown} is not supported (filesystem://, redis://host:6379/0, amqp://...)"
        )
    return url


def sqlite_database(path: str) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        # WAL and a busy timeout let the web server, the worker and beat share one file.
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


VAR_DIR = Path(env_str("PANDA_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me-in-production")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "apps.core",
    "apps.accounts",
    "apps.sites",
    "apps.shares",
    "apps.ddm",
    "apps.jobs",
    "apps.workers",
    "apps.jedi",
    "apps.brokerage",
    "apps.dispatcher",
    "apps.monitor",
    "apps.devidp",
    "mozilla_django_oidc",
]
# The development identity provider (iam.md §10) for the quick start, demos and tests. Its tables always
# exist; its endpoints answer 404 unless this is on. Never on in production.
PANDA_DEVIDP_ENABLED = env_bool("PANDA_DEVIDP_ENABLED", False)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Renews an OIDC browser session at the provider once its ID token has expired (apps/accounts/browser.py).
    "apps.accounts.browser.BrowserSessionRefresh",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# The wire APIs (pilots, Harvester, clients) have no browser session, cookies or frames: their
# requests skip the browser middleware (see pandaweb/wsgi.py), which is a fifth of a heartbeat's cost.
# CommonMiddleware stays: it sets Content-Length, which pilots and Harvester read.
API_MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"]
API_PATH_PREFIXES = ("/server/panda/", "/api/", "/cache/", "/cric/", "/trf/", "/auth/")

ROOT_URLCONF = "pandaweb.urls"
WSGI_APPLICATION = "pandaweb.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# Legacy URLs are exact (/server/panda/getJob); never redirect them to a trailing slash.
APPEND_SLASH = False

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

DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {
    "default": database_from_url(DATABASE_URL) if DATABASE_URL else sqlite_database(str(VAR_DIR / "panda.sqlite3"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# PanDA stores naive UTC timestamps; the wire formats carry no zone.
USE_TZ = False
USE_I18N = False

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# The quick start has no front proxy, so Django serves STATIC_ROOT itself; production leaves it to nginx.
PANDA_SERVE_STATIC = env_bool("PANDA_SERVE_STATIC", False)

REST_FRAMEWORK = {
    # OIDC bearer tokens first; legacy x509 only as asserted by the trusted front proxy (iam.md §3, §7).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.OIDCBearerAuthentication",
        "apps.accounts.authentication.TrustedProxyX509Authentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = broker_from_url(env_str("CELERY_BROKER_URL") or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        # The exchange tables (celery.exchange, the workers' pidbox); kombu's default is ./control.
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    (VAR_DIR / "broker" / "queue").mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "broker" / "processed").mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "broker" / "control").mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")


def beat_entry(task: str, default_period: int) -> dict | None:
    """One row of the beat table; ``PANDA_BEAT_<NAME>=<seconds>`` overrides, ``0`` disables."""
    name = task.rsplit(".", 1)[-1].upper()
    period = env_int(f"PANDA_BEAT_{name}", default_period)
    if period <= 0:
        return None
    # A run that could not start before the next one is due is dropped, not queued up.
    return {"task": task, "schedule": float(period), "options": {"expires": float(period)}}


# The beat schedule is one table: (task, default period in seconds).
BEAT_TABLE = [
    ("apps.jobs.tasks.run_adder", 240),
    ("apps.jobs.tasks.run_watcher", 600),
    ("apps.jobs.tasks.run_activator", 300),
    ("apps.ddm.tasks.run_ddm_rules", 60),
    ("apps.jedi.tasks.run_task_commando", 60),
    ("apps.jedi.tasks.run_task_broker", 600),
    ("apps.jedi.tasks.run_task_refiner", 10),
    ("apps.jedi.tasks.run_contents_feeder", 10),
    ("apps.jedi.tasks.run_job_generator", 10),
    ("apps.jedi.tasks.run_feedback", 10),
    ("apps.jedi.tasks.run_postprocessor", 20),
    ("apps.jedi.tasks.run_watchdog", 300),
    ("apps.monitor.tasks.run_queue_snapshot", 60),
    ("apps.monitor.tasks.run_error_hourly", 300),
]
CELERY_BEAT_SCHEDULE = {
    task.rsplit(".", 1)[-1]: entry for task, period in BEAT_TABLE if (entry := beat_entry(task, period))
}

# --- PanDA server -------------------------------------------------------------------------
PANDA_SLOPPY_DISPATCH_RATIO = env_int("PANDA_SLOPPY_DISPATCH_RATIO", 10)
PANDA_N_JOBS_IN_GETJOB = env_int("PANDA_N_JOBS_IN_GETJOB", 10)
PANDA_TRF_DIR = Path(env_str("PANDA_TRF_DIR", str(BASE_DIR / "trf")))
# Seconds the per-process caches of queue documents and token lookups stay fresh.
PANDA_CONFIG_CACHE_SECONDS = env_int("PANDA_CONFIG_CACHE_SECONDS", 60)
# DN patterns (regular expressions) that hold the production role whatever their FQANs say.
PANDA_PRODUCTION_DNS = env_list("PANDA_PRODUCTION_DNS")
PANDA_BANNED_USERS = env_list("PANDA_BANNED_USERS")
# Watcher timeouts overriding the spec's defaults (apps/jobs/services/timeouts.py lists the names):
# PANDA_TIMEOUT_<NAME>=<seconds>, e.g. PANDA_TIMEOUT_SENT=1800, PANDA_TIMEOUT_HEARTBEAT_PUSH=7200.
PANDA_TIMEOUTS = env_seconds_map("PANDA_TIMEOUT_")
# The Activator activates `assigned` jobs only after they have been assigned this long (seconds).
PANDA_ACTIVATOR_MIN_AGE = env_int("PANDA_ACTIVATOR_MIN_AGE", 3600)
# An assigned job whose dispatch-block rule has been stuck this long (seconds) fails (ddmErrorCode 100).
PANDA_DISPATCH_STUCK_TIMEOUT = env_int("PANDA_DISPATCH_STUCK_TIMEOUT", 7200)
# task/submit refuses (code 10) a user who already has this many non-final tasks.
PANDA_MAX_ACTIVE_TASKS_PER_USER = env_int("PANDA_MAX_ACTIVE_TASKS_PER_USER", 5000)
# JEDI WatchDog timers (spec/states.md §6.4), in seconds; apps/jedi/services/watchdog.py says what each does.
PANDA_JEDI_PICKED_RESCUE = env_int("PANDA_JEDI_PICKED_RESCUE", 30 * 60)
PANDA_JEDI_PENDING_RETRY = env_int("PANDA_JEDI_PENDING_RETRY", 60 * 60)
PANDA_JEDI_PENDING_TIMEOUT = env_int("PANDA_JEDI_PENDING_TIMEOUT", 7 * 24 * 3600)
# Per prodSourceLabel: PANDA_JEDI_PENDING_TIMEOUT_<LABEL>=<seconds>, e.g. PANDA_JEDI_PENDING_TIMEOUT_USER=86400.
PANDA_JEDI_PENDING_TIMEOUTS = env_seconds_map("PANDA_JEDI_PENDING_TIMEOUT_")
PANDA_JEDI_LOCK_TIMEOUT = env_int("PANDA_JEDI_LOCK_TIMEOUT", 60 * 60)
PANDA_JEDI_THROTTLED_RECHECK = env_int("PANDA_JEDI_THROTTLED_RECHECK", 120 * 60)
PANDA_JEDI_EXHAUSTED_KICK = env_int("PANDA_JEDI_EXHAUSTED_KICK", 48 * 3600)

# JEDI throttling (jedi.md §8): per-user caps on running analysis jobs / cores; 0 = no cap.
PANDA_CAP_RUNNING_USER_JOBS = env_int("PANDA_CAP_RUNNING_USER_JOBS", 0)
PANDA_CAP_RUNNING_USER_CORES = env_int("PANDA_CAP_RUNNING_USER_CORES", 0)
# How long (seconds) a process keeps its global-share ranking for dispatch (jedi.md §10.5).
PANDA_SHARE_RANK_SECONDS = env_int("PANDA_SHARE_RANK_SECONDS", 60)

# --- Identity (iam.md) ---------------------------------------------------------------------
# VO records (AuthConfig) live in the database; `manage.py load_auth_config FILE` loads them from JSON.
PANDA_OIDC_DECISION_CACHE_SECONDS = env_int("PANDA_OIDC_DECISION_CACHE_SECONDS", 300)
PANDA_OIDC_KEYS_CACHE_SECONDS = env_int("PANDA_OIDC_KEYS_CACHE_SECONDS", 600)
PANDA_OIDC_LEEWAY_SECONDS = env_int("PANDA_OIDC_LEEWAY_SECONDS", 30)
# Verify TLS when fetching discovery documents and JWKS (a CA bundle path, or true/false).
PANDA_OIDC_CA_BUNDLE = env_str("PANDA_OIDC_CA_BUNDLE")
# x509 through a trusted front proxy (iam.md §7): its addresses and the shared secret it sends.
PANDA_X509_TRUSTED_PROXIES = env_list("PANDA_X509_TRUSTED_PROXIES")
PANDA_X509_PROXY_SECRET = env_str("PANDA_X509_PROXY_SECRET")
PANDA_X509_SECRET_HEADER = env_str("PANDA_X509_SECRET_HEADER", "X-Panda-Proxy-Secret")
PANDA_X509_DN_HEADER = env_str("PANDA_X509_DN_HEADER", "X-SSL-Client-S-DN")
PANDA_X509_FQANS_HEADER = env_str("PANDA_X509_FQANS_HEADER", "X-Panda-VOMS-FQANs")
# The development identity provider: its issuer URL as clients reach it (the quick start sets it).
PANDA_DEVIDP_ISSUER = env_str("PANDA_DEVIDP_ISSUER", "http://127.0.0.1:8000/idp")
PANDA_DEVIDP_KEY_FILE = Path(env_str("PANDA_DEVIDP_KEY_FILE", str(VAR_DIR / "devidp" / "signing-key.pem")))
# Token and grant lifetimes of the development provider, in seconds (iam.md §5: user 24 h, robots 4 days).
PANDA_DEVIDP_ID_TOKEN_SECONDS = env_int("PANDA_DEVIDP_ID_TOKEN_SECONDS", 24 * 3600)
PANDA_DEVIDP_ROBOT_TOKEN_SECONDS = env_int("PANDA_DEVIDP_ROBOT_TOKEN_SECONDS", 4 * 24 * 3600)
PANDA_DEVIDP_REFRESH_TOKEN_SECONDS = env_int("PANDA_DEVIDP_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600)
PANDA_DEVIDP_DEVICE_CODE_SECONDS = env_int("PANDA_DEVIDP_DEVICE_CODE_SECONDS", 600)
PANDA_DEVIDP_DEVICE_INTERVAL_SECONDS = env_int("PANDA_DEVIDP_DEVICE_INTERVAL_SECONDS", 5)
# Browser login (mozilla-django-oidc, iam.md §8): the VO whose AuthConfig the monitor logs in with.
PANDA_BROWSER_LOGIN_VO = env_str("PANDA_BROWSER_LOGIN_VO", "atlas")
# The monitor's own confidential OIDC client; the secret literally, or in a file (the development provider
# writes its monitor client's secret to VAR_DIR/devidp/panda-monitor.secret).
PANDA_MONITOR_OIDC_CLIENT_ID = env_str("PANDA_MONITOR_OIDC_CLIENT_ID", "panda-monitor")
PANDA_MONITOR_OIDC_CLIENT_SECRET = env_str("PANDA_MONITOR_OIDC_CLIENT_SECRET")
PANDA_MONITOR_OIDC_CLIENT_SECRET_FILE = Path(
    env_str("PANDA_MONITOR_OIDC_CLIENT_SECRET_FILE", str(VAR_DIR / "devidp" / "panda-monitor.secret"))
)
# Provider groups whose members are Django staff (the admin), and superusers: e.g. atlas/admin.
PANDA_ADMIN_GROUPS = env_list("PANDA_ADMIN_GROUPS")
PANDA_SUPERUSER_GROUPS = env_list("PANDA_SUPERUSER_GROUPS")
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (docs/deployment.md's nginx does): trust it,
# so absolute URLs (the OIDC redirect URI) say https. Only when every request comes through that proxy.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("PANDA_TRUST_X_FORWARDED_PROTO", False) else None
)
# Username/password login (the admin's form): off unless DEBUG, or explicitly allowed.
PANDA_PASSWORD_LOGIN = env_bool("PANDA_PASSWORD_LOGIN", DEBUG)
# The password backend comes first so that a session it creates (force_login in tests, createsuperuser's
# admin) is never sent to the OIDC provider for renewal; it answers nothing when password login is off.
AUTHENTICATION_BACKENDS = ["apps.accounts.browser.PasswordLoginBackend", "apps.accounts.browser.BrowserLoginBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# mozilla-django-oidc: endpoints and client are resolved per login from the VO's AuthConfig, not set here.
OIDC_AUTHENTICATE_CLASS = "apps.accounts.browser_views.LoginStartView"
OIDC_CALLBACK_CLASS = "apps.accounts.browser_views.LoginCallbackView"
OIDC_OP_LOGOUT_URL_METHOD = "apps.accounts.browser.provider_logout_url"
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_STORE_ID_TOKEN = True
OIDC_TIMEOUT = 10
# A browser session is renewed at the provider after this many seconds, or when its ID token expires.
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env_int("PANDA_BROWSER_SESSION_REFRESH_SECONDS", 15 * 60)

# --- Monitor (monitor.md) -------------------------------------------------------------------
# Anonymous read of monitor pages and their JSON (monitor.md §4, iam.md §11).
PANDA_MONITOR_ANONYMOUS_READ = env_bool("PANDA_MONITOR_ANONYMOUS_READ", True)
# jobtype=analysis/production also test the transformation (http... / ...py) as ATLAS does (monitor.md §2).
PANDA_MONITOR_ATLAS_JOBTYPES = env_bool("PANDA_MONITOR_ATLAS_JOBTYPES", False)
# Dashboards (monitor.md §8): final jobs count when they ended within PANDA_MONITOR_DASH_HOURS; the
# per-minute queue snapshots are kept PANDA_MONITOR_SNAPSHOT_KEEP_MINUTES.
PANDA_MONITOR_DASH_HOURS = env_int("PANDA_MONITOR_DASH_HOURS", 12)
PANDA_MONITOR_SNAPSHOT_KEEP_MINUTES = env_int("PANDA_MONITOR_SNAPSHOT_KEEP_MINUTES", 120)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
