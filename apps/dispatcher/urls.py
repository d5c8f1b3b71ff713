from django.urls import path, re_path

from apps.dispatcher.views import LegacyView, V1View

urlpatterns = [
    re_path(r"^server/panda/(?P<method>[^/]+)$", LegacyView.as_view(), name="legacy"),
    re_path(r"^api/(?P<version>v1|latest)/(?P<module>[^/]+)/(?P<method>[^/]+)$", V1View.as_view(), name="v1"),
]
