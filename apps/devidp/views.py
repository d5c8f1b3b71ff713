"""HTTP endpoints of the development provider under /idp/ (iam.md §10). Thin: parse, call a service, answer.

Every view answers 404 unless ``PANDA_DEVIDP_ENABLED``. The token and device-authorization endpoints
are OAuth APIs (form posts, JSON answers, RFC 6749 error bodies, no CSRF); ``authorize`` and ``device``
are browser pages with Django's CSRF protection.
"""

from __future__ import annotations

import base64
import binascii
from functools import wraps
from urllib.parse import unquote, urlencode

import jwt
from django.conf import settings
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.devidp.documents import discovery_document
from apps.devidp.keys import jwks
from apps.devidp.models import DevAccount, DevClient
from apps.devidp.services import grants
from apps.devidp.services.grants import OAuthError
from apps.devidp.services.tokens import issuer, token_verify

G = DevClient.Grant
# The provider's own "session": which account this browser picked last, for prompt=none.
ACCOUNT_COOKIE = "devidp_account"
ACCOUNT_COOKIE_SECONDS = 12 * 3600
AUTHORIZE_FIELDS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


def enabled_only(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.PANDA_DEVIDP_ENABLED:
            raise Http404("the development identity provider is off")
        return view(request, *args, **kwargs)

    return wrapper


def _oauth_error(error: OAuthError) -> JsonResponse:
    response = JsonResponse(error.as_json(), status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Basic realm="devidp"'
    response["Cache-Control"] = "no-store"
    return response


def _no_store(payload: dict) -> JsonResponse:
    response = JsonResponse(payload)
    response["Cache-Control"] = "no-store"
    return response


@enabled_only
@require_GET
def configuration(request):
    return JsonResponse(discovery_document())


@enabled_only
@require_GET
def jwk(request):
    return JsonResponse(jwks())


def _accounts():
    return DevAccount.objects.order_by("username")


def _error_page(request, error: OAuthError):
    return render(request, "devidp/error.html", {"error": error}, status=400)


@enabled_only
@never_cache
@require_http_methods(["GET", "POST"])
def authorize(request):
    """GET: the consent page with an account picker. POST: issue a code and send the browser back."""
    params = request.POST if request.method == "POST" else request.GET
    try:
        auth_request = grants.authorization_request_validate(params)
    except OAuthError as error:
        return _error_page(request, error)
    hidden = {name: params.get(name, "") for name in AUTHORIZE_FIELDS if params.get(name)}
    answer = {"state": auth_request.state} if auth_request.state else {}
    if request.method == "GET" and "none" in params.get("prompt", "").split():
        # Silent re-authentication (OIDC Core §3.1.2.1): only for the account chosen earlier in this browser.
        account = _remembered_account(request)
        if account is None:
            answer = {"error": "login_required", "error_description": "no account chosen in this browser", **answer}
        else:
            answer = {"code": grants.authorization_code_issue(request=auth_request, account=account), **answer}
        return _back_to_client(auth_request.redirect_uri, answer)
    if request.method == "GET":
        context = {"request_fields": hidden, "client": auth_request.client, "accounts": _accounts()}
        return render(request, "devidp/authorize.html", context)
    account = None
    if request.POST.get("action") == "deny":
        answer = {"error": "access_denied", "error_description": "the user denied the request", **answer}
    else:
        account = _accounts().filter(username=request.POST.get("username", "")).first()
        if account is None:
            context = {
                "request_fields": hidden,
                "client": auth_request.client,
                "accounts": _accounts(),
                "problem": "Choose an account to log in as.",
            }
            return render(request, "devidp/authorize.html", context, status=400)
        answer = {"code": grants.authorization_code_issue(request=auth_request, account=account), **answer}
    response = _back_to_client(auth_request.redirect_uri, answer)
    if account is not None:
        response.set_signed_cookie(
            ACCOUNT_COOKIE, account.username, salt=ACCOUNT_COOKIE, max_age=ACCOUNT_COOKIE_SECONDS, httponly=True,
            samesite="Lax", path="/idp/",
        )  # fmt: skip
    return response


def _back_to_client(redirect_uri: str, answer: dict) -> HttpResponseRedirect:
    separator = "&" if "?" in redirect_uri else "?"
    return HttpResponseRedirect(f"{redirect_uri}{separator}{urlencode(answer)}")


def _remembered_account(request) -> DevAccount | None:
    """The account this browser chose last (a signed cookie of the provider's own), if it still exists."""
    username = request.get_signed_cookie(
        ACCOUNT_COOKIE, default="", salt=ACCOUNT_COOKIE, max_age=ACCOUNT_COOKIE_SECONDS
    )
    return _accounts().filter(username=username).first() if username else None


def _client_credentials(request) -> tuple[str, str]:
    """client_secret_basic (Authorization: Basic) or client_secret_post / none (form fields)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "basic ":
        try:
            client_id, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "malformed Basic authorization header", status=401) from None
        return unquote(client_id), unquote(secret)
    return request.POST.get("client_id", ""), request.POST.get("client_secret", "")


@csrf_exempt
@enabled_only
@require_POST
def token(request):
    data = request.POST
    grant_type = data.get("grant_type", "")
    try:
        if grant_type not in G.values:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        client_id, secret = _client_credentials(request)
        client = grants.client_authenticate(client_id=client_id, client_secret=secret, grant_type=grant_type)
        if grant_type == G.AUTHORIZATION_CODE:
            payload = grants.authorization_code_redeem(
                client=client,
                code=data.get("code", ""),
                redirect_uri=data.get("redirect_uri", ""),
                code_verifier=data.get("code_verifier", ""),
            )
        elif grant_type == G.REFRESH_TOKEN:
            payload = grants.refresh_token_redeem(
                client=client, refresh_token=data.get("refresh_token", ""), scope=data.get("scope", "")
            )
        elif grant_type == G.CLIENT_CREDENTIALS:
            payload = grants.client_credentials_grant(
                client=client, scope=data.get("scope", ""), audience=data.get("audience", "")
            )
        else:
            payload = grants.device_code_redeem(client=client, device_code=data.get("device_code", ""))
    except OAuthError as error:
        return _oauth_error(error)
    return _no_store(payload)


@csrf_exempt
@enabled_only
@require_POST
def devicecode(request):
    """Device authorization (RFC 8628 §3.1): codes for a command-line login."""
    try:
        client_id, secret = _client_credentials(request)
        client = grants.client_authenticate(client_id=client_id, client_secret=secret, grant_type=G.DEVICE_CODE)
        grant, raw = grants.device_authorization_start(
            client=client, scope=request.POST.get("scope", ""), audience=request.POST.get("audience", "")
        )
    except OAuthError as error:
        return _oauth_error(error)
    verification_uri = f"{issuer()}/device"
    return _no_store(
        {
            "device_code": raw,
            "user_code": grant.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?{urlencode({'user_code': grant.user_code})}",
            "expires_in": settings.PANDA_DEVIDP_DEVICE_CODE_SECONDS,
            "interval": grant.interval,
        }
    )


@enabled_only
@never_cache
@require_http_methods(["GET", "POST"])
def device(request):
    """Where a person types (or confirms) the code shown by the command line and approves or denies it."""
    user_code = (request.POST if request.method == "POST" else request.GET).get("user_code", "").strip()
    context = {"user_code": user_code, "accounts": _accounts()}
    if not user_code:
        return render(request, "devidp/device.html", context)
    try:
        if request.method == "GET" or "action" not in request.POST:
            context["grant"] = grants.pending_device_code(user_code)
            return render(request, "devidp/device.html", context)
        approve = request.POST["action"] == "approve"
        account = _accounts().filter(username=request.POST.get("username", "")).first()
        grant = grants.device_code_decide(user_code=user_code, account=account, approve=approve)
    except OAuthError as error:
        context["problem"] = error.description
        return render(request, "devidp/device.html", context, status=400)
    return render(request, "devidp/device_done.html", {"grant": grant})


@csrf_exempt
@enabled_only
@require_http_methods(["GET", "POST"])
def userinfo(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    try:
        if header[:7].lower() != "bearer ":
            raise OAuthError("invalid_token", "send the access token as Authorization: Bearer", status=401)
        try:
            claims = token_verify(header[7:].strip(), require=["exp", "iat", "sub", "client_id"])
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_token", f"access token rejected: {exc}", status=401) from None
        account = DevAccount.objects.filter(subject=claims["sub"]).first()
        if account is None:
            raise OAuthError("invalid_token", "the token does not belong to a person", status=401)
    except OAuthError as error:
        response = JsonResponse(error.as_json(), status=401)
        response["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{error.description}"'
        return response
    return _no_store(
        {
            "sub": account.subject,
            "name": account.name,
            "preferred_username": account.username,
            "email": account.email,
            "groups": list(account.groups),
        }
    )


@enabled_only
@require_GET
def logout(request):
    """End session: forget the browser's chosen account; go back to the client if it registered the URL."""
    target = request.GET.get("post_logout_redirect_uri", "")
    client_id = request.GET.get("client_id", "")
    hint = request.GET.get("id_token_hint", "")
    if hint and not client_id:
        try:
            # An expired ID token is still a fine hint of who is logging out.
            aud = token_verify(hint, verify_exp=False).get("aud")
            client_id = aud[0] if isinstance(aud, list) and aud else str(aud or "")
        except jwt.PyJWTError:
            client_id = ""
    client = DevClient.objects.filter(client_id=client_id).first() if client_id else None
    if target and client is not None and target in client.post_logout_redirect_uris:
        state = request.GET.get("state", "")
        separator = "&" if "?" in target else "?"
        response = HttpResponseRedirect(target + (f"{separator}{urlencode({'state': state})}" if state else ""))
    else:
        response = render(request, "devidp/logged_out.html", {"target": target, "client": client})
    response.delete_cookie(ACCOUNT_COOKIE, path="/idp/")
    return response
