"""The PanDA pilot: runs on a worker node, fetches a job from the server, runs it and reports it.

Standalone: standard library only, nothing from Django or ``apps/``.
"""

__version__ = "3.11.0.1"
