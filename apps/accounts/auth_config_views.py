"""``/auth/<vo>[.<role>]_auth_config.json``: the public OIDC client configuration (protocol.md §11.3)."""

from django.http import Http404, JsonResponse
from django.views.decorators.http import require_GET

from apps.accounts.oidc.config import config_named
from apps.accounts.services.auth_configs import public_auth_config


@require_GET
def auth_config(request, name: str):
    config = config_named(name)
    if config is None:
        raise Http404(f"no auth config {name}")
    response = JsonResponse(public_auth_config(config))
    response["Cache-Control"] = "public, max-age=300"
    return response
