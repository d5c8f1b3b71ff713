"""Origin parsing (iam.md §1) and groups, roles and robots (§4)."""

import pytest

from apps.accounts.models import AuthConfig
from apps.accounts.oidc.groups import RoleRefused, fqans_for_groups, membership, token_groups
from apps.accounts.oidc.origin import BadOrigin, Origin, parse_origin

CONFIG = AuthConfig(
    name="panda_dev", vo="panda_dev", client_id="c", auto_roles=["production"], robot_ids={"pilot-robot": ["pilot"]}
)


@pytest.mark.parametrize(
    "header, parsed",
    [
        ("atlas", Origin("atlas", "")),
        ("atlas.production", Origin("atlas", "production")),
        ("atlas:production", Origin("atlas", "production")),
        ("panda_dev.pilot", Origin("panda_dev", "pilot")),
        ("vo.with.dots.role", Origin("vo.with.dots", "role")),
        ("vo.x:role.y", Origin("vo.x", "role.y")),
        (None, None),
        ("", None),
        ("https://bigpanda.example.org", None),
        ("null", None),
    ],
)
def test_the_role_is_split_off_at_a_colon_or_else_at_the_last_dot(header, parsed):
    assert parse_origin(header) == parsed


@pytest.mark.parametrize("header", ["at las", ":role", "atlas:ro le", "/atlas"])
def test_a_malformed_origin_is_refused(header):
    with pytest.raises(BadOrigin, match="invalid Origin"):
        parse_origin(header)


def test_groups_match_with_or_without_a_leading_slash():
    assert token_groups({"groups": ["/atlas", "atlas/production", "", 3]}, jwt_profile="") == [
        "atlas",
        "atlas/production",
    ]
    assert token_groups({"wlcg.groups": ["/atlas/pilot"], "groups": ["x"]}, jwt_profile="wlcg") == ["atlas/pilot"]


def test_a_named_role_needs_its_group():
    claims = {"groups": ["panda_dev"]}

    with pytest.raises(RoleRefused, match="Not a member of the panda_dev/pilot group"):
        membership(config=CONFIG, vo="panda_dev", role="pilot", client_id="c", claims=claims)


def test_auto_roles_are_tried_before_plain_membership():
    with_production = {"groups": ["panda_dev", "panda_dev/production"]}

    assert (
        membership(config=CONFIG, vo="panda_dev", role="", client_id="c", claims=with_production).role == "production"
    )
    assert (
        membership(config=CONFIG, vo="panda_dev", role="", client_id="c", claims={"groups": ["panda_dev"]}).role == ""
    )


def test_a_robot_gets_synthetic_groups_and_only_its_roles():
    member = membership(config=CONFIG, vo="panda_dev", role="", client_id="pilot-robot", claims={})

    assert (member.role, member.groups, member.fqans, member.is_robot) == (
        "pilot",
        ("panda_dev/pilot",),
        ("/panda_dev/Role=pilot",),
        True,
    )
    with pytest.raises(RoleRefused, match="panda_dev/production"):
        membership(config=CONFIG, vo="panda_dev", role="production", client_id="pilot-robot", claims={})


def test_role_scopes_add_their_fqans():
    claims = {"groups": ["panda_dev"], "scope": "openid role:/panda_dev/Role=pilot role:"}

    assert membership(config=CONFIG, vo="panda_dev", role="", client_id="c", claims=claims).fqans == (
        "/panda_dev",
        "/panda_dev/Role=pilot",
    )


def test_user_fqans_are_derived_from_groups():
    assert fqans_for_groups(["atlas", "/atlas/production", "atlas/phys-higgs/production", "/"]) == [
        "/atlas",
        "/atlas/Role=production",
        "/atlas/phys-higgs/Role=production",
    ]
