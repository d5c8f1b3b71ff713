"""The front page: the system at a glance and the search box."""

from apps.monitor.views.common import respond


def front_page(request):
    return respond(request, "monitor/home.html", {"title": "PanDA monitor"}, json_data={})
