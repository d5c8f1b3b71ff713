from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    # The wire APIs first: they are most of the traffic.
    path("", include("apps.dispatcher.urls")),
    # Browser login (/login/, /logout/, /oidc/...) and the admin's login page: before admin/ to replace it.
    path("", include("apps.accounts.urls")),
    path("admin/", admin.site.urls),
    # The development identity provider (/idp/...): 404 unless PANDA_DEVIDP_ENABLED.
    path("", include("apps.devidp.urls")),
    # The monitor last: its page URLs (/jobs/, /task/<id>/, ...) share no prefix with the APIs above.
    path("", include("apps.monitor.urls")),
]

if settings.PANDA_SERVE_STATIC:
    urlpatterns.append(re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}))
