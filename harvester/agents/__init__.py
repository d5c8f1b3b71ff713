"""The agents of pilot-harvester.md §10.1, each a function of the :class:`harvester.context.Harvester`."""
