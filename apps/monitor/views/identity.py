"""Who is looking at a monitor page, and whether they may (iam.md §11 ``check_monitor_read``).

The identity is :func:`apps.accounts.authentication.identity_from_request`: a bearer token, a trusted
x509 proxy, or the logged-in session user. A refused token answers HTTP 401, a banned caller 403.
"""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.authentication import identity_from_request, token_refused_response
from apps.accounts.identity import Identity
from apps.accounts.oidc.validator import TokenRejected
from apps.accounts.permissions import check_monitor_read
from apps.monitor.views.common import json_response, wants_json


def _refusal(request: HttpRequest, message: str, status: int) -> HttpResponse:
    if wants_json(request):
        return json_response({"error": message}, status=status)
    title = {400: "Bad request", 403: "Not allowed", 404: "Not found"}.get(status, "Refused")
    return render(request, "monitor/bad_request.html", {"title": title, "message": message}, status=status)


def caller(request: HttpRequest) -> Identity | HttpResponse:
    """The caller's identity, or the response refusing a bad token (401) or a banned caller (403)."""
    try:
        return identity_from_request(request)
    except TokenRejected as exc:
        return token_refused_response(exc)
    except PermissionDenied as exc:
        return _refusal(request, str(exc), 403)


def read_refused(request: HttpRequest) -> HttpResponse | None:
    """The refusal when the caller may not read the monitor, else ``None``."""
    identity = caller(request)
    if isinstance(identity, HttpResponse):
        return identity
    decision = check_monitor_read(identity)
    return None if decision.allowed else _refusal(request, decision.reason, 403)


def not_found(request: HttpRequest, message: str) -> HttpResponse:
    return _refusal(request, message, 404)


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return _refusal(request, message, 400)
