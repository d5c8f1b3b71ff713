"""Identity URLs: the public OIDC client configuration for panda-client, and the browser login."""

from django.urls import include, path, re_path

from apps.accounts import auth_config_views, browser_views

urlpatterns = [
    # /auth/<vo>[.<role>]_auth_config.json (protocol.md §11.3); under API_PATH_PREFIXES, no session.
    re_path(r"^auth/(?P<name>[^/]+)_auth_config\.json$", auth_config_views.auth_config, name="auth_config"),
    # Browser login (iam.md §8).
    path("login/", browser_views.LoginStartView.as_view(), name="login"),
    path("logout/", browser_views.LogoutView.as_view(), name="logout"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("admin/login/", browser_views.admin_login, name="admin_login"),
]
