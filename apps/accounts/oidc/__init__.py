"""OIDC bearer-token validation (iam.md §3–§6): Origin parsing, VO configuration, keys, groups, the validator."""
