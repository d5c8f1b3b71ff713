"""Talking to the PanDA server: transport, credentials, the pilot API calls."""
