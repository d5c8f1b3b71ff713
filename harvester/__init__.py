"""PanDA Harvester: provisions pilots on computing resources and speaks for them to the server.

A standalone package (standard library only; it imports nothing from Django or ``apps/``). Start it
with ``python -m harvester run -c <config>``; docs/harvester.md describes the configuration.
"""

__version__ = "0.1.0"
