"""Pilot Monitor (lifetime, thread health, server contact) and Job Monitor (per-job checks, metrics)."""
