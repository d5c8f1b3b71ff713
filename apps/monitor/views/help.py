"""``/help/``: one short section per monitor view (monitor.md §1 Misc)."""

GRAMMAR = (
    "Filters: key=value on any job field; a|b or a,b for OR, !a for NOT, * as wildcard, 'Not specified' "
    "for empty; hours=, days=, date_from=, date_to= set the window; add json (or Accept: application/json) "
    "for the same data as JSON."
)

HELP_SECTIONS = [
    {
        "view": "Front page",
        "url": "/",
        "text": "Tasks by status, jobs by state over 12 h, the queues failing most, "
        "Harvester workers, and a search box: a PandaID, task id, task name (* allowed), user, queue or site.",
    },
    {
        "view": "Jobs",
        "url": "/jobs/",
        "text": "Jobs matching the filters (12 h by default) with the attribute "
        "summary and errors by count. " + GRAMMAR,
    },
    {
        "view": "Job",
        "url": "/job/<pandaid>/",
        "text": "Every field of a job, its files, logs, status log, retry chain and errors with their descriptions.",
    },
    {
        "view": "Tasks",
        "url": "/tasks/",
        "text": "Tasks of the last 7 days with their attribute summary; task-only "
        "keys: category, project, tag, stream, superstatus, campaign; user= is username. Facets include the "
        "taskname's project, stream and tag.",
    },
    {
        "view": "Task",
        "url": "/task/<jeditaskid>/",
        "text": "Parameters, datasets with progress, job states, scouts, "
        "status log, plots and, for its owner and production managers, actions.",
    },
    {
        "view": "Task profile",
        "url": "/taskprofile/<jeditaskid>/",
        "text": "Jobs finished and failed, and events of the finished jobs, accumulated over the task's life; "
        "/taskprofiledata/<jeditaskid>/ is the same as JSON.",
    },
    {
        "view": "Errors",
        "url": "/errors/",
        "text": "Failed jobs grouped by component:code, site, user and task, with "
        "descriptions and an error-over-time histogram; each row links to the failed jobs. 12 h by default, "
        "6 h for jobtype=analysis; /errorsscat/ is the task x site failure matrix. " + GRAMMAR,
    },
    {
        "view": "Queue dashboards",
        "url": "/dash/region/",
        "text": "Jobs per state per queue, site and region from the per-minute snapshot (/dash/world/: per "
        "nucleus; /dash/es/: event-service jobs, counted live). Parameters: jobtype=analy|prod, resourcetype, "
        "splitby=jobtype|resourcetype, region, site.",
    },
    {
        "view": "Status summary",
        "url": "/status_summary/",
        "text": "Jobs per state for every queue; nhours sets the "
        "window of final jobs; lists (cloud=CERN,DE) and negations (status=-offline); /status_summary/api/ is JSON.",
    },
    {
        "view": "Sites",
        "url": "/sites/",
        "text": "The queue list with facets (cloud, status, tier, type, country, "
        "harvester, copytool, workflow); /site/<name>/ shows a queue's document and job counts, or a site's queues.",
    },
    {
        "view": "Worker nodes",
        "url": "/wns/<site>/",
        "text": "Jobs per worker node of a queue or site over hours=N; "
        "nodes failing most jobs while the rest of the queue does not are flagged as possible black holes.",
    },
    {
        "view": "Users",
        "url": "/users/",
        "text": "Users active in the window (7 days by default, days=N) with their tasks and jobs; /user/<name>/ "
        "shows one user's tasks, jobs and errors, /userProfile/<name>/ their progress over time.",
    },
    {
        "view": "Harvester",
        "url": "/harvester/instances/",
        "text": "Harvester instances; /harvester/workers/ lists "
        "workers (instance=, computingsite=, status=, hours=) with their summary, /harvester/worker/<id>/ one worker "
        "and its jobs, /harvester/slots/ the slot targets, /workersfortask/?jeditaskid= the workers of a task.",
    },
    {
        "view": "Global shares",
        "url": "/globalshares/",
        "text": "The share tree with each leaf's target and the jobs running and activated in it.",
    },
    {
        "view": "Resource types",
        "url": "/resourcetypes/",
        "text": "Resource types with their core and memory bounds and active jobs.",
    },
    {
        "view": "Files",
        "url": "/files/",
        "text": "Job files (input, output, log of every job attempt) and DDM catalogue files by lfn (* allowed), "
        "scope, guid, dataset, jeditaskid or pandaid, with type, status and scope facets; /file/?lfn=&scope= "
        "shows one file's replicas, datasets, the jobs that read or wrote it and JEDI's records of it.",
    },
    {
        "view": "Datasets",
        "url": "/datasets/",
        "text": "Task datasets (by datasetname with *, jeditaskid, type, status) and catalogue datasets by name; "
        "/dataset/?datasetname=scope:name shows a dataset's state, files with replica counts, rules, containers "
        "and the tasks that read or write it.",
    },
    {
        "view": "Task logs",
        "url": "/tasklogs/<jeditaskid>/",
        "text": "A task's status changes with their reasons (the JEDI agents' messages), the commands sent to it "
        "with their answers, in one timeline, and its last message (errordialog).",
    },
    {
        "view": "Task chain",
        "url": "/taskchain/?jeditaskid=<id>",
        "text": "The tree of tasks linked by their parent task, from the root, whichever task of it is named; "
        "/ganttTaskChain/?jeditaskid= draws it on a time axis; /taskflow/<jeditaskid>/ shows input datasets, "
        "the task, its outputs and the child tasks reading them.",
    },
    {
        "view": "Work queues",
        "url": "/workQueues/",
        "text": "The global-share leaves, which take the role of JEDI's work queues here: their matching rules, "
        "targets, throttling caps, active tasks, queued and running jobs.",
    },
    {
        "view": "Job memory",
        "url": "/prmonplots/<pandaid>/",
        "text": "A job's maximum and average RSS, PSS, VMEM and swap and its I/O as its pilot reported them; "
        "only these summaries are stored, no time series.",
    },
]
