"""Endpoint modules; importing them registers their legacy and v1 methods."""

from apps.dispatcher.api import (  # noqa: F401
    brokerage,
    getjob,
    harvester,
    job_commands,
    jobs_client,
    kill,
    metaconfig,
    statistics,
    status,
    system,
    task_submit,
    tasks,
    updates,
    whoami,
)
