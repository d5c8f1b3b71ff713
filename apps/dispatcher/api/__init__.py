"""Endpoint modules; importing them registers their legacy and v1 methods."""

from apps.dispatcher.api import (  # noqa: F401
    getjob,
    harvester,
    job_commands,
    jobs_client,
    kill,
    metaconfig,
    statistics,
    status,
    system,
    updates,
)
