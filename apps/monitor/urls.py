"""Monitor URLs (monitor.md §1): typed, uniquely named; one module per page family adds its routes here."""

from django.urls import path

from apps.monitor.views import (
    dashboards,
    filebrowser,
    harvester,
    home,
    job_detail,
    job_memory,
    jobs,
    not_yet,
    sites,
    task_chain,
    task_detail,
    task_logs,
    task_profile,
    tasks,
    work_queues,
)
from apps.monitor.views import errors as error_views
from apps.monitor.views import files as file_views
from apps.monitor.views import users as user_views

app_name = "monitor"

urlpatterns = [
    path("", home.front_page, name="home"),
    # Engineer M4: dashboards and status summary
    path("dash/", dashboards.dash_region, name="dash"),
    path("dash/region/", dashboards.dash_region, name="dash-region"),
    path("dash/world/", dashboards.dash_world, name="dash-world"),
    path("dash/es/", dashboards.dash_es, name="dash-es"),
    path("dash/analysis/", dashboards.dash_analysis, name="dash-analysis"),
    path("dash/production/", dashboards.dash_production, name="dash-production"),
    path("status_summary/", dashboards.status_summary_page, name="status-summary"),
    path("status_summary/api/", dashboards.status_summary_api, name="status-summary-api"),
    path("sites/", sites.sites_page, name="sites"),
    path("site/<str:name>/", sites.site_page, name="site"),
    path("harvester/instances/", harvester.instances_page, name="harvester-instances"),
    path("harvester/workers/", harvester.workers_page, name="harvester-workers"),
    path("harvester/worker/<int:workerid>/", harvester.worker_page, name="harvester-worker"),
    path("harvester/slots/", harvester.slots_page, name="harvester-slots"),
    path("workersfortask/", harvester.workers_for_task_page, name="workers-for-task"),
    path("wns/<str:site>/", sites.worker_nodes_page, name="worker-nodes"),
    path("wn/<str:site>/<str:wn>/", sites.worker_node_page, name="worker-node"),
    path("globalshares/", sites.global_shares_page, name="global-shares"),
    path("resourcetypes/", sites.resource_types_page, name="resource-types"),
    path("search/", home.search, name="search"),
    path("help/", home.help_page, name="help"),
    path("wnInfo/<str:site>/", home.worker_nodes_moved, name="obsolete-wninfo"),
    *(path(f"{old}/", home.obsolete, {"old": old}, name=f"obsolete-{old.replace('/', '-')}") for old in home.OBSOLETE),
    # Engineer M2: job pages, task pages, task actions
    path("job", job_detail.job_query, name="job-query-noslash"),
    path("job/", job_detail.job_query, name="job-query"),
    path("job/<int:pandaid>/", job_detail.job_page, name="job"),
    path("job/<int:pandaid>/<str:batchid>/", job_detail.job_page, name="job-batchid"),
    path("jobstatuslog/<int:pandaid>/", job_detail.job_status_log_page, name="jobstatuslog"),
    path("jobrelationships/<int:pandaid>/", job_detail.job_relationships_page, name="jobrelationships"),
    path("filebrowser/", filebrowser.filebrowser, name="filebrowser"),
    path("tasks/", tasks.tasks_list, name="tasks"),
    path("task", task_detail.task_query, name="task-query-noslash"),
    path("task/", task_detail.task_query, name="task-query"),
    path("task/<int:jeditaskid>/", task_detail.task_page, name="task"),
    path("task/<int:jeditaskid>/action/", task_detail.task_action, name="task-action"),
    path("taskstatuslog/<int:jeditaskid>/", task_detail.task_status_log_page, name="taskstatuslog"),
    path("getjobsummaryfortask/<int:jeditaskid>/", task_detail.job_summary_for_task, name="jobsummaryfortask"),
    path("taskprofile/<int:jeditaskid>/", task_profile.task_profile_page, name="taskprofile"),
    path("taskprofiledata/<int:jeditaskid>/", task_profile.task_profile_data, name="taskprofiledata"),
    # Engineer M1: the jobs list (path forms: /jobs/<key>/<value>/, /jobs/<drop|nodrop|key=value&...>/)
    path("jobs/", jobs.jobs_list, name="jobs"),
    path("jobs/<str:a>/", jobs.jobs_list, name="jobs-path1"),
    path("jobs/<str:a>/<str:b>/", jobs.jobs_list, name="jobs-path2"),
    # Engineer M3: error summary and users
    path("errors/", error_views.errors_page, name="errors"),
    path("errorsscat/", error_views.error_scatter_page, name="errorsscat"),
    path("users/", user_views.users_page, name="users"),
    path("user/<str:name>/", user_views.user_page, name="user"),
    path("userProfile/<str:name>/", user_views.user_profile_page, name="user-profile"),
    # Engineer D2: files and datasets, task logs, task chain and flow, work queues, job memory
    path("files/", file_views.files_page, name="files"),
    path("file/", file_views.file_page, name="file"),
    path("datasets/", file_views.datasets_page, name="datasets"),
    path("dataset/", file_views.dataset_page, name="dataset"),
    path("tasklogs/<int:jeditaskid>/", task_logs.task_logs_page, name="tasklogs"),
    path("taskchain/", task_chain.task_chain_page, name="taskchain"),
    path("ganttTaskChain/", task_chain.gantt_task_chain_page, name="gantt-task-chain"),
    path("taskflow/<int:jeditaskid>/", task_chain.task_flow_page, name="taskflow"),
    path("workQueues/", work_queues.work_queues_page, name="work-queues"),
    path("prmonplots/<int:pandaid>/", job_memory.prmon_page, name="prmonplots"),
    *(
        path(
            page,
            not_yet.not_yet_available,
            {"page": page, "kind": kind},
            name=f"not-yet-{page.strip('/').replace('/', '-')}",
        )
        for kind, pages in (("idds", not_yet.IDDS_URLS), ("carousel", not_yet.CAROUSEL_URLS))
        for page in pages
    ),
]
