"""Endpoints: see the module docstring once written."""
