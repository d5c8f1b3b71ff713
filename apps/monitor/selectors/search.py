"""The front page's search box (monitor.md §1 Home): one word -> the page it names.

A number is a PandaID or a task id; a word is a queue or site, a user, or a task name (``*`` allowed).
"""

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from apps.jedi.models import Task
from apps.jobs.models import Job
from apps.sites.models import PandaQueue, Site

MAX_QUERY_LENGTH = 255


@dataclass(frozen=True)
class SearchHit:
    kind: str  # job, task, queue, site, user, taskname
    label: str
    url: str


def search_hits(query: str) -> list[SearchHit]:
    """Every page ``query`` may name, most specific first; empty when nothing matches."""
    query = query.strip()
    if not query or len(query) > MAX_QUERY_LENGTH:
        return []
    hits = []
    if query.isdigit():
        number = int(query)
        if Job.objects.filter(pandaid=number).exists():
            hits.append(SearchHit("job", f"job {number}", f"/job/{number}/"))
        if Task.objects.filter(jeditaskid=number).exists():
            hits.append(SearchHit("task", f"task {number}", f"/task/{number}/"))
        return hits
    if PandaQueue.objects.filter(name=query).exists():
        hits.append(SearchHit("queue", f"queue {query}", f"/site/{quote(query)}/"))
    elif Site.objects.filter(name=query).exists():
        hits.append(SearchHit("site", f"site {query}", f"/site/{quote(query)}/"))
    if Task.objects.filter(username=query).exists() or Job.objects.filter(produsername=query).exists():
        hits.append(SearchHit("user", f"user {query}", f"/user/{quote(query)}/"))
    if "*" in query or Task.objects.filter(taskname=query).exists():
        hits.append(SearchHit("taskname", f"tasks named {query}", "/tasks/?" + urlencode({"taskname": query})))
    return hits
