"""Browser login to the monitor and the admin (iam.md §8): the OIDC authorization-code flow.

mozilla-django-oidc runs the protocol (state, nonce, PKCE, the code exchange, session refresh). What it
would take from static settings comes from the VO record instead: the endpoints from the discovery
document of the AuthConfig named ``PANDA_BROWSER_LOGIN_VO`` (fetched through ``apps.accounts.oidc.keys``,
so the development provider is answered in-process), the monitor's own confidential client from settings.

The ID token is checked by the same validator as API bearer tokens (issuer, audience, RS256 signature,
expiry); the person is matched by ``(iss, sub)``, never by e-mail; their groups become FQANs; membership
of the VO's group is required; ``PANDA_ADMIN_GROUPS`` make staff. A refusal is recorded on the request as
``panda_login_problem`` and shown by the callback view (apps/accounts/browser_views.py).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.shortcuts import resolve_url
from django.utils.deprecation import MiddlewareMixin
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh
from mozilla_django_oidc.utils import import_from_settings

from apps.accounts.identity import identity_for_user
from apps.accounts.models import AuthConfig
from apps.accounts.oidc.config import config_for
from apps.accounts.oidc.groups import Membership, token_groups
from apps.accounts.oidc.keys import KeyFetchError, discovery
from apps.accounts.oidc.validator import TokenRejected, dn_for_claims, validate_id_token
from apps.accounts.services.external_users import user_for_claims

log = logging.getLogger(__name__)

BASE_SCOPES = "openid profile email"
# Browser paths that must never trigger a silent re-authentication: the login flow itself, the
# development provider's pages and static files. API paths never reach this middleware (pandaweb/handlers.py).
NEVER_REFRESHED_PREFIXES = ("/login/", "/logout/", "/oidc/", "/idp/", "/static/", "/admin/login/")


class LoginUnavailable(Exception):
    """The identity provider cannot be used now (not configured, unreachable, incomplete discovery)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LoginRefused(Exception):
    """This person may not log in (bad token, not in the VO, disabled account); the reason is shown."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BrowserProvider:
    """Everything one login needs about the provider and the monitor's client."""

    config: AuthConfig
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    end_session_endpoint: str
    client_id: str
    client_secret: str
    scopes: str
    use_pkce: bool

    def setting(self, name: str, default=None):
        """The mozilla-django-oidc setting ``name`` for this provider, else the project's setting."""
        values = {
            "OIDC_OP_AUTHORIZATION_ENDPOINT": self.authorization_endpoint,
            "OIDC_OP_TOKEN_ENDPOINT": self.token_endpoint,
            "OIDC_OP_JWKS_ENDPOINT": self.jwks_uri,
            "OIDC_OP_USER_ENDPOINT": self.userinfo_endpoint,
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_RP_SCOPES": self.scopes,
            "OIDC_USE_PKCE": self.use_pkce,
            "OIDC_VERIFY_SSL": tls_verification(),
        }
        if name in values:
            return values[name]
        return import_from_settings(name, default)


def tls_verification() -> bool | str:
    """``requests``' ``verify`` from ``PANDA_OIDC_CA_BUNDLE``: the system CAs, a bundle path, or off."""
    bundle = (settings.PANDA_OIDC_CA_BUNDLE or "").strip()
    if bundle.lower() in ("", "true", "1", "yes"):
        return True
    if bundle.lower() in ("false", "0", "no"):
        return False
    return bundle


def monitor_client_secret() -> str:
    """The monitor client's secret: the setting, else the secret file (read per login: it may be created later)."""
    if settings.PANDA_MONITOR_OIDC_CLIENT_SECRET:
        return settings.PANDA_MONITOR_OIDC_CLIENT_SECRET
    path = settings.PANDA_MONITOR_OIDC_CLIENT_SECRET_FILE
    try:
        secret = path.read_text().strip()
    except OSError:
        secret = ""
    if not secret:
        raise LoginUnavailable(
            "the monitor's OIDC client secret is not configured "
            f"(PANDA_MONITOR_OIDC_CLIENT_SECRET, or a file at PANDA_MONITOR_OIDC_CLIENT_SECRET_FILE={path})"
        )
    return secret


def browser_provider() -> BrowserProvider:
    """The provider of ``PANDA_BROWSER_LOGIN_VO``; :class:`LoginUnavailable` says what is missing."""
    vo = settings.PANDA_BROWSER_LOGIN_VO
    config = config_for(vo)
    if config is None:
        raise LoginUnavailable(f"no enabled identity-provider configuration (AuthConfig) named {vo!r}")
    try:
        document = discovery(config.oidc_config_url)
    except KeyFetchError as exc:
        raise LoginUnavailable(f"the identity provider cannot be reached: {exc}") from exc
    missing = [name for name in ("authorization_endpoint", "token_endpoint") if not document.get(name)]
    if missing:
        raise LoginUnavailable(f"the provider's discovery document has no {', '.join(missing)}")
    scopes = BASE_SCOPES + (" wlcg.groups" if config.jwt_profile == "wlcg" else "")
    return BrowserProvider(
        config=config,
        issuer=document["issuer"],
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        userinfo_endpoint=document.get("userinfo_endpoint") or "",
        end_session_endpoint=document.get("end_session_endpoint") or "",
        client_id=settings.PANDA_MONITOR_OIDC_CLIENT_ID,
        client_secret=monitor_client_secret(),
        scopes=scopes,
        use_pkce="S256" in (document.get("code_challenge_methods_supported") or []),
    )


def monitor_validation_config(provider: BrowserProvider) -> AuthConfig:
    """The VO record as the ID-token validator sees it for the monitor: the monitor's client id is one more
    accepted audience here (API calls accept it only when the record lists it in ``secondary_ids``)."""
    config = copy.copy(provider.config)
    config.secondary_ids = [*(config.secondary_ids or []), provider.client_id]
    return config


def normalised_groups(names) -> set[str]:
    return {name.strip().strip("/") for name in names if name.strip("/ ")}


def staff_flags(groups: list[str]) -> dict[str, bool]:
    """``is_staff`` / ``is_superuser`` from the provider's groups, for each flag whose setting names groups;
    with no groups configured the flag is left to the admin (``manage.py createsuperuser``, the user form)."""
    present = normalised_groups(groups)
    flags = {}
    for flag, configured in (
        ("is_staff", settings.PANDA_ADMIN_GROUPS),
        ("is_superuser", settings.PANDA_SUPERUSER_GROUPS),
    ):
        if configured:
            flags[flag] = bool(present & normalised_groups(configured))
    return flags


def refuse(request, reason: str, *, status: int = 403) -> None:
    """Record why the login failed, for the callback view's page (503: the provider cannot be used)."""
    log.warning("browser login refused: %s", reason)
    request.panda_login_problem = reason
    request.panda_login_status = status


class BrowserLoginBackend(OIDCAuthenticationBackend):
    """The authorization-code login: code exchange by mozilla-django-oidc, everything else ours."""

    def __init__(self, *args, **kwargs):
        # The parent reads endpoints from static settings here; ours are resolved per login.
        self.UserModel = get_user_model()
        self.provider: BrowserProvider | None = None

    def get_settings(self, attr, *args):
        if self.provider is not None:
            return self.provider.setting(attr, *args)
        return import_from_settings(attr, *args)

    def authenticate(self, request, **kwargs):
        # Django offers every backend every login (also the admin's username/password form): only an
        # OIDC callback carries code and state.
        if request is None or not request.GET.get("code") or not request.GET.get("state"):
            return None
        try:
            self.provider = browser_provider()
        except LoginUnavailable as exc:
            refuse(request, exc.reason, status=503)
            return None
        provider = self.provider
        self.OIDC_OP_TOKEN_ENDPOINT = provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = provider.jwks_uri
        self.OIDC_RP_CLIENT_ID = provider.client_id
        self.OIDC_RP_CLIENT_SECRET = provider.client_secret
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        try:
            return super().authenticate(request, **kwargs)
        except LoginRefused as exc:
            refuse(request, exc.reason)
        except requests.RequestException as exc:
            # The token endpoint's error text can echo the code; the status is enough for the page.
            status = getattr(exc.response, "status_code", None)
            refuse(
                request, f"the identity provider did not accept the login (token endpoint: {status or exc})", status=502
            )
        return None

    def verify_token(self, token, **kwargs):
        if not token:
            raise LoginRefused("the identity provider answered without an ID token")
        try:
            claims = validate_id_token(token, config=monitor_validation_config(self.provider))
        except TokenRejected as exc:
            raise LoginRefused(f"the ID token was not accepted: {exc.reason}") from exc
        if claims.get("nonce") != kwargs.get("nonce"):
            raise LoginRefused("the ID token does not belong to this login (nonce mismatch)")
        # The callback view renews the session no later than the ID token's expiry.
        self.request.panda_id_token_exp = float(claims["exp"])
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        config = self.provider.config
        claims = dict(payload)
        groups = token_groups(claims, jwt_profile=config.jwt_profile)
        if not groups and self.provider.userinfo_endpoint and access_token:
            # Some providers release groups only at the userinfo endpoint; it must describe the same person.
            info = self.get_userinfo(access_token, id_token, payload)
            if info.get("sub") == claims.get("sub"):
                groups = token_groups(info, jwt_profile=config.jwt_profile)
        who = claims.get("preferred_username") or claims.get("sub")
        if config.vo not in normalised_groups(groups):
            raise LoginRefused(
                f"{who} is not a member of the {config.vo} VO (the identity provider lists no {config.vo} group "
                "for this account); ask the VO's administrators to add you"
            )
        user = user_for_claims(issuer=claims["iss"], subject=claims["sub"], claims=claims, groups=groups)
        if not user.is_active:
            raise LoginRefused(f"the account {user.username} is disabled on this server")
        # The same DN-style identity as the user's bearer tokens get, so that the session's compact name
        # (task and job ownership in the monitor's actions) is the one their API calls have.
        wanted = {"dn": dn_for_claims(claims, Membership(role="", groups=(), fqans=(), is_robot=False))}
        wanted.update(staff_flags(groups))
        changed = {name: value for name, value in wanted.items() if getattr(user, name) != value}
        if changed:
            for name, value in changed.items():
                setattr(user, name, value)
            user.save(update_fields=list(changed))
        if identity_for_user(user).compact_name in settings.PANDA_BANNED_USERS:
            raise LoginRefused(f"{user.username} is banned from this server")
        return user


class PasswordLoginBackend(ModelBackend):
    """Username and password, only when ``PANDA_PASSWORD_LOGIN`` allows it (default: with ``DEBUG``)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.PANDA_PASSWORD_LOGIN:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def provider_logout_url(request) -> str:
    """Where logging out ends: the provider's end-session endpoint when it has one, else the monitor."""
    back = request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL))
    try:
        provider = browser_provider()
    except LoginUnavailable:
        return back
    if not provider.end_session_endpoint:
        return back
    query = {"post_logout_redirect_uri": back, "client_id": provider.client_id}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        query["id_token_hint"] = id_token
    separator = "&" if "?" in provider.end_session_endpoint else "?"
    return f"{provider.end_session_endpoint}{separator}{urlencode(query)}"


class BrowserSessionRefresh(SessionRefresh):
    """Silent re-authentication (``prompt=none``) once the ID token of a browser session has expired.

    Endpoints and client come from :func:`browser_provider` per request; the middleware is shared by all
    threads, so nothing request-specific is stored on it.
    """

    def __init__(self, get_response):
        MiddlewareMixin.__init__(self, get_response)
        self.OIDC_EXEMPT_URLS = import_from_settings("OIDC_EXEMPT_URLS", [])
        self.OIDC_STATE_SIZE = import_from_settings("OIDC_STATE_SIZE", 32)
        self.OIDC_AUTHENTICATION_CALLBACK_URL = import_from_settings(
            "OIDC_AUTHENTICATION_CALLBACK_URL", "oidc_authentication_callback"
        )
        self.OIDC_USE_NONCE = import_from_settings("OIDC_USE_NONCE", True)
        self.OIDC_NONCE_SIZE = import_from_settings("OIDC_NONCE_SIZE", 32)

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self):  # noqa: N802 - the parent's attribute name
        return browser_provider().authorization_endpoint

    @property
    def OIDC_RP_CLIENT_ID(self):  # noqa: N802
        return browser_provider().client_id

    @property
    def OIDC_RP_SCOPES(self):  # noqa: N802
        return browser_provider().scopes

    def get_settings(self, attr, *args):
        if attr in ("OIDC_USE_PKCE",):
            return browser_provider().use_pkce
        return import_from_settings(attr, *args)

    def is_refreshable_url(self, request):
        if request.path.startswith(NEVER_REFRESHED_PREFIXES + tuple(settings.API_PATH_PREFIXES)):
            return False
        return super().is_refreshable_url(request)

    def process_request(self, request):
        try:
            return super().process_request(request)
        except LoginUnavailable as exc:
            # The provider is down: the session cannot be renewed now; it stays until the provider is back.
            log.warning("browser session of %s not refreshed: %s", request.user, exc.reason)
            return None
