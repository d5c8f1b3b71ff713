"""Batch-system plugins (pilot-harvester.md §13): one class per backend, chosen per queue by name."""

from __future__ import annotations

from harvester.config import Config
from harvester.plugins.base import Plugin


def plugin_for(name: str, config: Config, args: dict) -> Plugin:
    if name == "local":
        from harvester.plugins.local import LocalPlugin

        return LocalPlugin(config, **args)
    if name == "slurm":
        from harvester.plugins.slurm import SlurmPlugin

        return SlurmPlugin(config, **args)
    raise ValueError(f"unknown plugin {name!r} (known: local, slurm)")
