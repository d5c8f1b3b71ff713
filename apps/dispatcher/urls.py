from django.urls import path, re_path

from apps.dispatcher import documents
from apps.dispatcher.views import LegacyView, V1View

urlpatterns = [
    re_path(r"^server/panda/(?P<method>[^/]+)$", LegacyView.as_view(), name="legacy"),
    re_path(r"^api/(?P<version>v1|latest)/(?P<module>[^/]+)/(?P<method>[^/]+)$", V1View.as_view(), name="v1"),
    # Static documents for pilots (protocol.md §11); the all-queues path must precede <queue>.all.json.
    path("cache/schedconfig/schedconfig.all.json", documents.queue_descriptions_all, name="schedconfig_all"),
    re_path(r"^cache/schedconfig/(?P<queue>[^/]+)\.all\.json$", documents.queue_description, name="schedconfig"),
    re_path(r"^cric/schedconfig/(?P<queue>[^/]+)\.json$", documents.queue_description_cric, name="cric_schedconfig"),
    path("cache/ddmendpoints.json", documents.ddm_endpoints, name="ddmendpoints"),
    path("trf/<path:path>", documents.transformation, name="trf"),
]
