"""The two URL families. Thin: decode, authenticate, look up the endpoint, call it."""

import logging

from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from apps.accounts.identity import ANONYMOUS
from apps.accounts.permissions import check_call_api
from apps.dispatcher import api  # noqa: F401  (registers the endpoints)
from apps.dispatcher.encoding import error_text, forbidden_method, v1_fail
from apps.dispatcher.parsers import GzipJSONParser, LegacyJSONParser
from apps.dispatcher.registry import LEGACY, V1, ArgumentError, Call, bind

log = logging.getLogger(__name__)


def _flatten_querydict(querydict, *, lists: bool) -> dict:
    if not lists:
        return {key: querydict.get(key) for key in querydict}
    out = {}
    for key in querydict:
        values = querydict.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


_DEFAULT_NEGOTIATION = DefaultContentNegotiation()  # select_parser keeps no state on the instance


class _NoNegotiation(BaseContentNegotiation):
    """Our encoders choose the response format themselves (protocol.md §3); skip DRF's negotiation."""

    def select_parser(self, request, parsers):
        return _DEFAULT_NEGOTIATION.select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


_AUTHENTICATORS = [cls() for cls in APIView.authentication_classes]
_NEGOTIATOR = _NoNegotiation()
_RENDERERS = [JSONRenderer()]


class _Base(APIView):
    # Our encoders build the HttpResponse themselves; DRF parses, authenticates and maps errors.
    permission_classes: list = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _NoNegotiation
    # Parsers, authenticators and the negotiator hold no per-request state: build them once per
    # process instead of on every request (the dispatcher's hot path).
    _parsers: list = []

    def get_parsers(self):
        return self._parsers

    def get_authenticators(self):
        return _AUTHENTICATORS

    def get_content_negotiator(self):
        return _NEGOTIATOR

    def get_renderers(self):
        return _RENDERERS

    def http_method_not_allowed(self, request, *args, **kwargs):
        return self.dispatch_call(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        return self.dispatch_call(request, *args, **kwargs)

    post = put = delete = patch = get

    def identity(self, request):
        identity = request.user if request.user is not None else ANONYMOUS
        # Banned users get HTTP 403 on every API call, however they authenticated (iam.md §11).
        decision = check_call_api(identity)
        if not decision.allowed:
            raise exceptions.PermissionDenied(decision.reason)
        return identity

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.ParseError):
            return error_text(400, f"ERROR : {exc.detail}")
        if isinstance(exc, (exceptions.AuthenticationFailed, exceptions.NotAuthenticated)):
            return error_text(403, f"ERROR : {exc.detail}")
        if isinstance(exc, exceptions.PermissionDenied):
            return error_text(403, f"ERROR : {exc.detail}")
        if isinstance(exc, exceptions.APIException):
            return error_text(exc.status_code, f"ERROR : {exc.detail}")
        return super().handle_exception(exc)


class LegacyView(_Base):
    parser_classes = [LegacyJSONParser, FormParser, MultiPartParser]
    _parsers = [cls() for cls in parser_classes]

    def dispatch_call(self, request, method: str):
        func = LEGACY.get(method)
        if func is None:
            return forbidden_method(method)
        params = _flatten_querydict(request.query_params, lists=False)
        if request.method != "GET":
            data = request.data
            params.update(
                data
                if isinstance(data, dict) and not hasattr(data, "getlist")
                else _flatten_querydict(data, lists=False)
            )
        return func(Call(identity=self.identity(request), params=params, request=request))


class V1View(_Base):
    parser_classes = [GzipJSONParser, FormParser, MultiPartParser]
    _parsers = [cls() for cls in parser_classes]

    def dispatch_call(self, request, version: str, module: str, method: str):
        endpoint = V1.get((module, method))
        if endpoint is None:
            return forbidden_method(f"{module}/{method}")
        if endpoint.http_method and request.method != endpoint.http_method:
            return v1_fail(f"expecting {endpoint.http_method} method, got {request.method}")
        params = _flatten_querydict(request.query_params, lists=True)
        if request.method != "GET":
            data = request.data
            if hasattr(data, "getlist"):
                params.update(_flatten_querydict(data, lists=True))
                for key, upload in getattr(request, "FILES", {}).items():
                    params[key] = upload
            elif isinstance(data, dict):
                params.update(data)
        try:
            kwargs = bind(params, endpoint.params, strict=endpoint.strict)
        except ArgumentError as exc:
            return v1_fail(f"Argument error: {exc}")
        call = Call(identity=self.identity(request), params=params, request=request)
        return endpoint.func(call, **kwargs)
