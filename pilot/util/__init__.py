"""Helpers shared by the components: /proc reading, payload killing, files."""
