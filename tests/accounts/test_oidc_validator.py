"""Bearer-token validation (iam.md §3–§6) against the test issuer's locally generated RSA keys."""

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import AuthConfig, ExternalIdentity, User
from apps.accounts.oidc import keys, validator
from apps.accounts.oidc.config import forget_auth_configs
from apps.accounts.oidc.validator import TokenRejected, identity_for_bearer, validate_id_token
from tests.oidc_issuer import AUDIENCE, ISSUER, JWKS_URL, TestIssuer

pytestmark = pytest.mark.django_db


def user_claims(**overrides) -> dict:
    claims = ISSUER.claims(
        subject="sub-jdoe",
        aud="panda-client",
        preferred_username="jdoe",
        name="jane DOE",
        email="jane@example.org",
        groups=["atlas", "atlas/production"],
    )
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


def hs256_with_public_key() -> str:
    """Algorithm confusion: HMAC-signed with the public key's PEM bytes, naming a real key id."""
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": ISSUER.kid}, user_claims()).rsplit(".", 1)[0]
    mac = hmac.new(ISSUER.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def other_key_same_kid() -> str:
    forger = TestIssuer()
    return jwt.encode(user_claims(), forger.keys["test-key-1"], algorithm="RS256", headers={"kid": ISSUER.kid})


def reason(token: str, origin: str | None = "atlas") -> str:
    with pytest.raises(TokenRejected) as refused:
        identity_for_bearer(token, origin)
    return refused.value.reason


@pytest.mark.parametrize(
    "make_token, origin, expected",
    [
        (lambda: ISSUER.sign(user_claims(exp=ISSUER.claims(subject="x")["iat"] - 31)), "atlas", "token expired"),
        (lambda: ISSUER.sign(user_claims(aud="someone-else", client_id="panda-client")), "atlas", "invalid audience"),
        (lambda: ISSUER.sign(user_claims(iss="https://evil.test.invalid/")), "atlas", "invalid issuer"),
        (other_key_same_kid, "atlas", "invalid signature"),
        (
            lambda: unsigned({"alg": "none", "typ": "JWT", "kid": ISSUER.kid}, user_claims()),
            "atlas",
            "algorithm none is not allowed",
        ),
        (hs256_with_public_key, "atlas", "algorithm HS256 is not allowed"),
        (
            lambda: jwt.encode(user_claims(), ISSUER.keys[ISSUER.kid], algorithm="RS256"),
            "atlas",
            "no kid in the token header",
        ),
        (lambda: ISSUER.sign(user_claims(exp=None)), "atlas", "missing claim exp"),
        (lambda: ISSUER.sign(user_claims(iat=None)), "atlas", "missing claim iat"),
        (lambda: ISSUER.sign(user_claims(aud="unknown-client")), "atlas", "unknown client id"),
        (
            lambda: ISSUER.sign(user_claims(groups=["atlas"])),
            "atlas.production",
            "Not a member of the atlas/production group",
        ),
        (lambda: ISSUER.sign(user_claims(groups=["cms"])), "atlas", "Not a member of the atlas group"),
        (
            lambda: ISSUER.sign(user_claims(iat=ISSUER.claims(subject="x")["iat"] + 600)),
            "atlas",
            "token issued in the future",
        ),
        (lambda: ISSUER.sign(user_claims()), "cms", "no auth config for VO cms"),
        (
            lambda: ISSUER.sign(user_claims()),
            "at las",
            "invalid Origin 'at las': expected <vo>, <vo>.<role> or <vo>:<role>",
        ),
        (lambda: ISSUER.sign(user_claims(), kid="missing"), "atlas", None),
        (lambda: "not.a.jwt", "atlas", "malformed token"),
    ],
    ids=[
        "expired beyond the leeway",
        "wrong audience",
        "wrong issuer",
        "bad signature: other key, same kid",
        "alg none",
        "HS256 signed with the public key (algorithm confusion)",
        "missing kid",
        "missing exp",
        "missing iat",
        "unknown client",
        "role not in groups",
        "not in the VO",
        "issued in the future",
        "VO without a record",
        "malformed Origin",
        "unknown kid",
        "not a JWT",
    ],
)
def test_a_bad_token_is_refused_with_its_reason(make_token, origin, expected):
    if expected is None:  # a key id the issuer never heard of: signed with a key it does not publish
        ISSUER.add_key("missing", publish=False)
        expected = "unknown signing key missing"
    assert reason(make_token(), origin) == expected


def test_a_valid_id_token_becomes_the_identity_of_its_user():
    claims = user_claims()
    identity = identity_for_bearer(ISSUER.sign(claims), "atlas.production")

    user = User.objects.get(pk=identity.user_id)
    assert (identity.method, identity.authenticated, identity.is_robot) == ("oidc", True, False)
    assert (identity.dn, identity.compact_name, identity.username) == ("Jane Doe/CN=nickname:jdoe", "Jane Doe", "jdoe")
    assert (identity.vo, identity.role, identity.fqans) == ("atlas", "production", ("/atlas/Role=production",))
    assert identity.is_production and identity.groups == ("atlas", "atlas/production")
    assert (identity.issuer, identity.subject) == ("https://idp.test.invalid", "sub-jdoe")
    assert identity.expires == claims["exp"] and dict(identity.claims)["email"] == "jane@example.org"
    assert (user.username, user.first_name, user.last_name, user.email) == ("jdoe", "jane", "DOE", "jane@example.org")
    assert ExternalIdentity.objects.get(user=user).subject == "sub-jdoe"


def test_a_token_expired_within_the_leeway_is_still_accepted():
    now = ISSUER.claims(subject="x")["iat"]
    identity = identity_for_bearer(ISSUER.sign(user_claims(exp=now - 20)), "atlas")

    assert identity.username == "jdoe"


def test_without_a_role_the_first_auto_role_the_token_has_is_taken():
    identity = identity_for_bearer(ISSUER.sign(user_claims(groups=["atlas", "atlas/pilot"])), "atlas")

    assert (identity.role, identity.fqans, identity.is_pilot) == ("pilot", ("/atlas/Role=pilot",), True)


def test_without_a_role_or_auto_role_plain_vo_membership_is_enough():
    identity = identity_for_bearer(ISSUER.sign(user_claims(groups=["/atlas"])), "atlas")

    assert (identity.role, identity.fqans, identity.is_production) == ("", ("/atlas",), False)


def test_without_origin_the_vo_of_the_client_applies():
    identity = identity_for_bearer(ISSUER.sign(user_claims()), None)

    assert (identity.vo, identity.role) == ("atlas", "production")


@pytest.mark.parametrize("origin", ["atlas.production", "atlas:production"])
def test_the_role_is_split_off_at_a_colon_or_the_last_dot(origin):
    assert identity_for_bearer(ISSUER.sign(user_claims()), origin).role == "production"


def test_role_scopes_add_fqans():
    token = ISSUER.sign(user_claims(scope="openid role:/atlas/phys-higgs/Role=production"))

    identity = identity_for_bearer(token, "atlas.production")

    assert identity.fqans == ("/atlas/Role=production", "/atlas/phys-higgs/Role=production")
    assert identity.production_working_groups == frozenset({"phys-higgs"})


def robot_token(client_id: str) -> str:
    return ISSUER.sign(ISSUER.claims(subject=client_id, client_id=client_id, aud=AUDIENCE, scope=""))


def test_a_robot_takes_a_role_allowed_for_its_client_without_any_group_claim():
    identity = identity_for_bearer(robot_token("panda-pilot"), "atlas.pilot")

    assert (identity.is_robot, identity.dn, identity.fqans) == (True, "Robot Pilot", ("/atlas/Role=pilot",))
    assert identity.groups == ("atlas/pilot",) and identity.username == "panda-pilot"


def test_a_robot_is_refused_a_role_not_allowed_for_its_client():
    assert reason(robot_token("panda-pilot"), "atlas.production") == "Not a member of the atlas/production group"


def test_a_robot_without_a_role_acts_with_the_auto_role_allowed_for_it():
    identity = identity_for_bearer(robot_token("panda-harvester"), "atlas")

    assert (identity.role, identity.is_production) == ("production", True)


def test_one_robot_client_is_one_user_whatever_its_tokens_say():
    first = identity_for_bearer(robot_token("panda-harvester"), "atlas.production")
    second = identity_for_bearer(
        ISSUER.sign(ISSUER.claims(subject="uuid-1", client_id="panda-harvester", aud=AUDIENCE)), "atlas.production"
    )

    assert first.user_id == second.user_id
    assert User.objects.filter(username__startswith="panda-harvester").count() == 1


def test_a_rotated_key_is_found_with_exactly_one_refetch_of_the_jwks():
    identity_for_bearer(ISSUER.sign(user_claims()), "atlas")
    assert ISSUER.jwks_fetches() == 1
    ISSUER.add_key("test-key-2")
    try:
        identity = identity_for_bearer(ISSUER.sign(user_claims(jti="after-rotation"), kid="test-key-2"), "atlas")

        assert identity.username == "jdoe" and ISSUER.jwks_fetches() == 2
        # Another token with the new key: the refetched set is cached.
        identity_for_bearer(ISSUER.sign(user_claims(jti="third"), kid="test-key-2"), "atlas")
        assert ISSUER.jwks_fetches() == 2
    finally:
        ISSUER.published.remove("test-key-2")


def test_a_kid_still_unknown_after_the_refetch_is_refused_without_a_second_refetch():
    identity_for_bearer(ISSUER.sign(user_claims()), "atlas")
    ISSUER.add_key("secret", publish=False)

    assert reason(ISSUER.sign(user_claims(), kid="secret")) == "unknown signing key secret"
    assert ISSUER.jwks_fetches() == 2


def test_issuers_compare_equal_with_or_without_a_trailing_slash():
    assert ISSUER.issuer.endswith("/")
    identity = identity_for_bearer(ISSUER.sign(user_claims(iss="https://idp.test.invalid")), "atlas")

    assert identity.username == "jdoe"


def test_a_legacy_issuer_of_the_vo_is_accepted_and_maps_to_the_same_account():
    AuthConfig.objects.filter(name="atlas").update(legacy_token_issuers=["https://old-idp.test.invalid"])
    forget_auth_configs()
    current = identity_for_bearer(ISSUER.sign(user_claims()), "atlas")

    legacy = identity_for_bearer(ISSUER.sign(user_claims(iss="https://old-idp.test.invalid/")), "atlas")

    assert legacy.user_id == current.user_id


def test_the_wlcg_profile_reads_wlcg_groups_with_their_leading_slash():
    AuthConfig.objects.filter(name="atlas").update(jwt_profile="wlcg")
    forget_auth_configs()
    token = ISSUER.sign(user_claims(groups=None, **{"wlcg.groups": ["/atlas", "/atlas/production"]}))

    assert identity_for_bearer(token, "atlas.production").role == "production"
    assert reason(ISSUER.sign(user_claims(jti="plain groups")), "atlas.production") == (
        "Not a member of the atlas/production group"
    )


def test_a_record_for_the_vo_and_role_is_preferred_to_the_vo_record():
    AuthConfig.objects.create(
        name="atlas.production",
        vo="atlas",
        client_id="panda-production-client",
        oidc_config_url=ISSUER.config_url,
        auto_roles=[],
    )
    forget_auth_configs()

    identity = identity_for_bearer(ISSUER.sign(user_claims(aud="panda-production-client")), "atlas.production")
    # A robot of the VO record keeps its roles when it names the role that has its own record.
    robot = identity_for_bearer(robot_token("panda-harvester"), "atlas.production")

    assert (identity.role, robot.role, robot.is_robot) == ("production", "production", True)


def test_a_client_of_another_vo_cannot_claim_this_vo():
    AuthConfig.objects.create(name="cms", vo="cms", client_id="cms-client", oidc_config_url=ISSUER.config_url)
    forget_auth_configs()

    assert (
        reason(ISSUER.sign(user_claims(aud="cms-client")), "atlas") == "client cms-client does not belong to VO atlas"
    )


def test_a_disabled_user_is_refused():
    identity = identity_for_bearer(ISSUER.sign(user_claims()), "atlas")
    User.objects.filter(pk=identity.user_id).update(is_active=False)

    assert reason(ISSUER.sign(user_claims(jti="new token")), "atlas") == "user jdoe is disabled"


def test_a_cached_decision_costs_no_query_and_no_fetch(django_assert_num_queries):
    token = ISSUER.sign(user_claims())
    first = identity_for_bearer(token, "atlas")

    with django_assert_num_queries(0):
        again = identity_for_bearer(token, "atlas")

    assert again is first and ISSUER.fetches.count(ISSUER.config_url) == 1


def test_the_decision_is_cached_per_origin():
    token = ISSUER.sign(user_claims(groups=["atlas"]))
    assert identity_for_bearer(token, "atlas").role == ""

    assert reason(token, "atlas.production") == "Not a member of the atlas/production group"


def queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def test_the_cached_decision_ends_when_the_token_expires(monkeypatch):
    now = ISSUER.claims(subject="x")["iat"]
    token = ISSUER.sign(user_claims(exp=now + 100))
    monkeypatch.setattr(validator, "clock", lambda: now)
    identity_for_bearer(token, "atlas")

    monkeypatch.setattr(validator, "clock", lambda: now + 99)
    assert queries(lambda: identity_for_bearer(token, "atlas")) == 0
    monkeypatch.setattr(validator, "clock", lambda: now + 101)  # past exp, within the leeway: decided again
    assert queries(lambda: identity_for_bearer(token, "atlas")) > 0
    monkeypatch.setattr(validator, "clock", lambda: now + 131)

    assert reason(token) == "token expired"


def test_the_decision_cache_lasts_at_most_the_configured_seconds(monkeypatch, settings):
    settings.PANDA_OIDC_DECISION_CACHE_SECONDS = 300
    now = ISSUER.claims(subject="x")["iat"]
    token = ISSUER.sign(user_claims())
    monkeypatch.setattr(validator, "clock", lambda: now)
    identity_for_bearer(token, "atlas")
    AuthConfig.objects.all().delete()
    forget_auth_configs()

    monkeypatch.setattr(validator, "clock", lambda: now + 299)
    assert identity_for_bearer(token, "atlas").username == "jdoe"
    monkeypatch.setattr(validator, "clock", lambda: now + 301)
    assert reason(token) == "unknown client id"


def test_an_unreachable_provider_refuses_without_remembering_the_refusal():
    token = ISSUER.sign(user_claims())

    def down(url):
        raise OSError("connection refused")

    keys.set_fetcher(down)
    assert reason(token).startswith("cannot get the signing keys of atlas: cannot fetch")
    keys.set_fetcher(ISSUER.fetch)

    assert identity_for_bearer(token, "atlas").username == "jdoe"


def test_validate_id_token_returns_the_claims_under_the_same_rules():
    config = AuthConfig.objects.get(name="atlas")

    assert validate_id_token(ISSUER.sign(user_claims()), config=config)["preferred_username"] == "jdoe"
    with pytest.raises(TokenRejected, match="invalid audience"):
        validate_id_token(ISSUER.sign(user_claims(aud="someone-else")), config=config)
    with pytest.raises(TokenRejected, match="algorithm HS256 is not allowed"):
        validate_id_token(hs256_with_public_key(), config=config)


def test_the_jwks_is_fetched_from_the_uri_of_the_discovery_document():
    identity_for_bearer(ISSUER.sign(user_claims()), "atlas")

    assert ISSUER.fetches == [ISSUER.config_url, JWKS_URL]
