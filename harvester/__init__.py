"""Harvester: provisions pilots on computing resources. Filled by the Harvester issue; see README.md."""
