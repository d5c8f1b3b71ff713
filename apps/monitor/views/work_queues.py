"""``/workQueues/`` (monitor.md §1 "Misc"): the global-share leaves in the role of JEDI's work queues."""

from apps.monitor.selectors.work_queues import legacy_work_queue_ids, work_queues
from apps.monitor.views.common import respond
from apps.monitor.views.readable import readable


@readable
def work_queues_page(request):
    queues = work_queues()
    legacy = legacy_work_queue_ids()
    context = {"title": "Work queues", "queues": queues, "legacy": legacy}
    return respond(
        request, "monitor/work_queues.html", context, json_data={"workqueues": queues, "workqueue_ids": legacy}
    )
