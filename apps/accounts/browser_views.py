"""The browser login's pages: start (``/login/``), callback (``/oidc/callback/``), logout and the admin's login.

The protocol views are mozilla-django-oidc's, fed by :func:`apps.accounts.browser.browser_provider`; a
provider that cannot be used, or a person who may not log in, gets a page that says why instead of an error.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import View
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from apps.accounts.browser import BrowserProvider, LoginUnavailable, browser_provider


def login_problem(request, problem: str, *, status: int, retry: bool = True):
    context = {"title": "Login", "problem": problem, "retry": retry, "next": safe_next(request, "/")}
    return render(request, "accounts/login_problem.html", context, status=status)


def safe_next(request, default: str) -> str:
    target = request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


class LoginStartView(OIDCAuthenticationRequestView):
    """``/login/`` and ``/oidc/authenticate/``: send the browser to the provider (state, nonce, PKCE)."""

    def __init__(self, **kwargs):
        # The parent reads the endpoints from static settings; ours come from the discovery document.
        View.__init__(self, **kwargs)
        self.provider: BrowserProvider | None = None

    def get_settings(self, attr, *args):
        if self.provider is not None:
            return self.provider.setting(attr, *args)
        return import_from_settings(attr, *args)

    def get(self, request):
        try:
            self.provider = browser_provider()
        except LoginUnavailable as exc:
            return login_problem(request, f"Login is not available right now: {exc.reason}.", status=503)
        self.OIDC_OP_AUTH_ENDPOINT = self.provider.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = self.provider.client_id
        return super().get(request)


class LoginCallbackView(OIDCAuthenticationCallbackView):
    """``/oidc/callback/``: the provider sends the browser back here with a code (or an error)."""

    def login_success(self):
        response = super().login_success()
        # Renew the session no later than the ID token expires (mozilla-django-oidc's interval is the cap).
        session = self.request.session
        exp = getattr(self.request, "panda_id_token_exp", None)
        if exp is not None:
            session["oidc_id_token_expiration"] = min(session["oidc_id_token_expiration"], exp)
        return response

    def login_failure(self):
        problem = getattr(self.request, "panda_login_problem", None)
        error = self.request.GET.get("error")
        if problem:
            status = getattr(self.request, "panda_login_status", 403)
            return login_problem(self.request, f"You could not be logged in: {problem}.", status=status)
        if error in ("login_required", "interaction_required", "consent_required"):
            # A silent session refresh (prompt=none) the provider could not grant without the person.
            return login_problem(self.request, "Your session has expired. Please log in again.", status=401)
        if error:
            description = self.request.GET.get("error_description") or error
            return login_problem(self.request, f"The identity provider refused the login: {description}.", status=403)
        return login_problem(self.request, "The login did not complete. Please try again.", status=400)


class LogoutView(OIDCLogoutView):
    """``/logout/`` (POST, with the CSRF token): end the session, and the provider's when it offers that."""

    http_method_names = ["post"]


def admin_login(request):
    """The admin's login goes through OIDC; the password form remains only when ``PANDA_PASSWORD_LOGIN``."""
    if settings.PANDA_PASSWORD_LOGIN:
        return admin.site.login(request)
    target = safe_next(request, reverse("admin:index"))
    if request.user.is_authenticated:
        if request.user.is_staff:
            return redirect(target)
        problem = (
            f"You are logged in as {request.user.username}, who is not an administrator of this server "
            "(administrators are the members of the groups in PANDA_ADMIN_GROUPS)."
        )
        return login_problem(request, problem, status=403, retry=False)
    return redirect(f"{reverse('login')}?{urlencode({'next': target})}")
