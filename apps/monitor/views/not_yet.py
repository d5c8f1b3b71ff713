"""Pages of monitor.md §1 whose data this server does not hold yet: the iDDS and data-carousel pages.

They answer 501 with a page (or JSON ``{"error"}``) that says why and where to look instead, never a
bare 404 (monitor.md §1: URLs never 404 silently). Their routes give way to the real pages when the
iDDS service is added.
"""

from django.shortcuts import render

from apps.monitor.views.common import json_response, wants_json
from apps.monitor.views.readable import readable

IDDS_URLS = (
    "idds/",
    "idds/wfprogress/",
    "idds/daggraph/",
    "idds/transforms/",
    "idds/collections/",
    "idds/contents/",
    "idds/getiddsfortask/",
)
CAROUSEL_URLS = ("dc/dash/", "api/dc/dash/", "api/dc/staginginfofortask/", "api/dc/stuckfiles/")
REASONS = {
    "idds": "The iDDS pages need the iDDS service (requests, transforms, processings), which this server does "
    "not run yet.",
    "carousel": "The data-carousel pages need iDDS staging requests, which this server does not record yet; the "
    "stage rules of a dataset are on its page (/dataset/?datasetname=) and a task's inputs on /datasets/?jeditaskid=.",
}


@readable
def not_yet_available(request, page: str, kind: str):
    message = f"/{page} is not available on this server. {REASONS[kind]}"
    if wants_json(request):
        return json_response({"error": message}, status=501)
    return render(request, "monitor/bad_request.html", {"title": "Not available yet", "message": message}, status=501)
