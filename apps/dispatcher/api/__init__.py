"""Endpoint modules; importing them registers their legacy and v1 methods."""

from apps.dispatcher.api import (  # noqa: F401
    getjob,
    job_commands,
    jobs_client,
    kill,
    metaconfig,
    status,
    system,
    updates,
)
