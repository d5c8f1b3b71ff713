"""Browser login (iam.md §8): the authorization-code flow through the development provider, and its refusals.

The whole flow needs the server to call the provider's token endpoint over HTTP, so those tests run against
``live_server``; the pages that need no token exchange are exercised with Django's test client.
"""

import base64
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import authenticate
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from apps.accounts.browser import BrowserLoginBackend, LoginRefused, browser_provider
from apps.accounts.identity import identity_for_user
from apps.accounts.models import AuthConfig, ExternalIdentity, User
from apps.accounts.oidc.config import forget_auth_configs
from apps.accounts.oidc.keys import forget_keys
from apps.devidp.models import DevAccount, DevClient
from apps.devidp.services.tokens import id_token_create
from tests.accounts.browser_support import Browser, dev_provider_on
from tests.factories import UserFactory

OIDC_BACKEND = "apps.accounts.browser.BrowserLoginBackend"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def query_of(url: str) -> dict:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def live_provider(live_server, settings, tmp_path, transactional_db):
    dev_provider_on(settings, tmp_path, live_server.url)
    return live_server


@pytest.fixture
def provider(settings, tmp_path, db):
    """The development provider for the test client (``http://testserver``): no token exchange possible."""
    dev_provider_on(settings, tmp_path, "http://testserver")


def session_of(browser: Browser) -> SessionStore:
    return SessionStore(session_key=browser.session.cookies["sessionid"])


# --- the whole flow, against a live server ------------------------------------------------------------


def test_a_vo_member_logs_in_and_lands_back_on_the_page_they_came_from(live_provider):
    browser = Browser(live_provider.url)

    landed = browser.login("alice", next_path="/?from=login")

    assert landed.status_code == 200
    assert landed.url == live_provider.url + "/?from=login"
    assert '<span class="who" data-testid="account-user">alice</span>' in landed.text
    assert "Log out" in landed.text
    account = DevAccount.objects.get(username="alice")
    link = ExternalIdentity.objects.select_related("user").get(subject=account.subject)
    assert link.issuer == live_provider.url + "/idp"
    assert (link.user.username, link.user.email, link.user.get_full_name()) == (
        "alice",
        "alice@example.org",
        "Alice Atlas",
    )
    assert link.user.fqans == ["/atlas"]
    assert link.user.dn == "Alice Atlas/CN=nickname:alice"
    assert identity_for_user(link.user).compact_name == "Alice Atlas"
    assert link.user.is_staff is False
    session = session_of(browser)
    assert session["_auth_user_backend"] == OIDC_BACKEND
    assert session["oidc_id_token"].count(".") == 2


def test_the_session_is_renewed_no_later_than_the_id_token_expires(live_provider, settings):
    settings.PANDA_DEVIDP_ID_TOKEN_SECONDS = 120
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 3600
    browser = Browser(live_provider.url)

    browser.login("alice")

    session = session_of(browser)
    assert session["oidc_id_token_expiration"] == claims_of(session["oidc_id_token"])["exp"]


def test_groups_become_fqans_and_the_admin_groups_make_staff(live_provider, settings):
    settings.PANDA_ADMIN_GROUPS = ["/atlas/production"]
    browser = Browser(live_provider.url)

    browser.login("prodmgr")

    user = User.objects.get(username="prodmgr")
    assert user.fqans == ["/atlas", "/atlas/Role=production"]
    assert (user.is_staff, user.is_superuser) == (True, False)
    assert browser.get("/admin/").status_code == 200

    settings.PANDA_ADMIN_GROUPS = ["atlas/admin"]
    settings.PANDA_SUPERUSER_GROUPS = ["atlas/production"]
    Browser(live_provider.url).login("prodmgr")
    user.refresh_from_db()
    assert (user.is_staff, user.is_superuser) == (False, True)


def test_with_no_admin_groups_configured_the_staff_flag_is_left_to_the_admin(live_provider, settings):
    settings.PANDA_ADMIN_GROUPS = []
    Browser(live_provider.url).login("alice")
    User.objects.filter(username="alice").update(is_staff=True)

    Browser(live_provider.url).login("alice")

    assert User.objects.get(username="alice").is_staff is True


def test_a_person_outside_the_vo_is_refused_with_a_page_that_says_why(live_provider):
    DevAccount.objects.create(username="eve", name="Eve Outsider", email="eve@example.org", groups=["cms"])
    browser = Browser(live_provider.url)

    refused = browser.login("eve")

    assert refused.status_code == 403
    assert "eve is not a member of the atlas VO" in refused.text
    assert "Log in again" in refused.text
    assert not User.objects.filter(username="eve").exists()
    assert "sessionid" not in browser.session.cookies or "_auth_user_id" not in session_of(browser)


def test_a_token_endpoint_that_refuses_the_monitor_client_gives_a_page_not_an_error(live_provider, settings):
    settings.PANDA_MONITOR_OIDC_CLIENT_SECRET = "not-the-secret"

    refused = Browser(live_provider.url).login("alice")

    assert refused.status_code == 502
    assert "the identity provider did not accept the login (token endpoint: 401)" in refused.text
    assert not User.objects.filter(username="alice").exists()


def test_an_id_token_of_another_login_is_refused_by_its_nonce(provider, rf):
    account = DevAccount.objects.get(username="alice")
    token = id_token_create(account=account, client=DevClient.objects.get(client_id="panda-monitor"), nonce="theirs")
    request = rf.get("/oidc/callback/", {"code": "c", "state": "s"})
    backend = BrowserLoginBackend()
    backend.request = request
    backend.provider = browser_provider()

    with pytest.raises(LoginRefused, match="nonce mismatch"):
        backend.verify_token(token, nonce="ours")
    assert backend.verify_token(token, nonce="theirs")["sub"] == account.subject


def test_a_banned_person_is_refused_at_login(provider, rf, settings):
    settings.PANDA_BANNED_USERS = ["Bob Atlas"]
    account = DevAccount.objects.get(username="bob")
    claims = {"iss": "http://testserver/idp", "sub": account.subject, "name": "Bob Atlas", "groups": ["atlas"]}
    backend = BrowserLoginBackend()
    backend.request = rf.get("/oidc/callback/")
    backend.provider = browser_provider()

    with pytest.raises(LoginRefused, match="bob is banned from this server"):
        backend.get_or_create_user("", "", {**claims, "preferred_username": "bob"})
    settings.PANDA_BANNED_USERS = []
    assert backend.get_or_create_user("", "", {**claims, "preferred_username": "bob"}).username == "bob"


def test_people_are_matched_by_issuer_and_subject_never_by_email(live_provider):
    local = UserFactory(username="alice", email="alice@example.org")

    Browser(live_provider.url).login("alice")
    Browser(live_provider.url).login("alice")

    link = ExternalIdentity.objects.get(subject=DevAccount.objects.get(username="alice").subject)
    assert link.user != local
    assert link.user.username == "alice-2"
    assert ExternalIdentity.objects.count() == 1
    local.refresh_from_db()
    assert local.external_identities.count() == 0


def test_logging_out_ends_the_session_at_the_provider_and_comes_back_to_the_monitor(live_provider):
    browser = Browser(live_provider.url)
    browser.login("alice")

    back = browser.logout()

    assert back.status_code == 200
    assert back.url == live_provider.url + "/"
    assert [r.url.split("?")[0] for r in back.history][1:] == [live_provider.url + "/idp/logout"]
    assert 'href="/login/?next=/"' in back.text
    assert "Log out" not in back.text


# --- pages without a token exchange (test client) ---------------------------------------------------------


def test_log_in_sends_the_browser_to_the_provider_with_state_nonce_and_pkce(provider):
    browser = Client()

    answer = browser.get("/login/", {"next": "/tasks/"})

    assert answer.status_code == 302
    location = answer["Location"]
    assert location.startswith("http://testserver/idp/authorize?")
    query = query_of(location)
    assert query["client_id"] == "panda-monitor"
    assert query["response_type"] == "code"
    assert query["scope"] == "openid profile email"
    assert query["redirect_uri"] == "http://testserver/oidc/callback/"
    assert query["code_challenge_method"] == "S256"
    states = browser.session["oidc_states"]
    assert states[query["state"]]["nonce"] == query["nonce"]
    assert states[query["state"]]["code_verifier"]
    assert browser.session["oidc_login_next"] == "/tasks/"


def test_behind_a_tls_proxy_the_redirect_uri_says_https(provider, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    answer = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https", SERVER_PORT="443")

    assert query_of(answer["Location"])["redirect_uri"] == "https://testserver/oidc/callback/"


def test_the_wlcg_profile_asks_for_the_wlcg_groups_scope(provider):
    AuthConfig.objects.filter(name="atlas").update(jwt_profile="wlcg")
    forget_auth_configs()

    answer = Client().get("/login/")

    assert query_of(answer["Location"])["scope"] == "openid profile email wlcg.groups"


def test_login_says_so_when_the_provider_cannot_be_reached(provider):
    AuthConfig.objects.filter(name="atlas").update(
        oidc_config_url="http://127.0.0.1:9/.well-known/openid-configuration"
    )
    forget_auth_configs()
    forget_keys()

    answer = Client().get("/login/")

    assert answer.status_code == 503
    text = answer.content.decode()
    assert "Login is not available right now: the identity provider cannot be reached" in text


def test_login_says_so_when_the_vo_has_no_provider_configuration(provider, settings):
    settings.PANDA_BROWSER_LOGIN_VO = "nosuchvo"

    answer = Client().get("/login/")

    assert answer.status_code == 503
    assert (
        "no enabled identity-provider configuration (AuthConfig) named &#x27;nosuchvo&#x27;" in answer.content.decode()
    )


def test_login_says_so_when_the_monitor_client_secret_is_missing(provider, settings, tmp_path):
    settings.PANDA_MONITOR_OIDC_CLIENT_SECRET_FILE = tmp_path / "missing.secret"

    answer = Client().get("/login/")

    assert answer.status_code == 503
    assert "the monitor&#x27;s OIDC client secret is not configured" in answer.content.decode()


def test_the_monitor_client_secret_may_be_given_literally(provider, settings, tmp_path):
    settings.PANDA_MONITOR_OIDC_CLIENT_SECRET_FILE = tmp_path / "missing.secret"
    settings.PANDA_MONITOR_OIDC_CLIENT_SECRET = "literal-secret"

    assert Client().get("/login/").status_code == 302


def test_a_refusal_from_the_provider_is_shown_on_the_callback_page(provider):
    answer = Client().get("/oidc/callback/", {"error": "access_denied", "error_description": "the user denied it"})

    assert answer.status_code == 403
    assert "The identity provider refused the login: the user denied it." in answer.content.decode()


def test_a_failed_silent_refresh_logs_out_and_asks_to_log_in_again(provider):
    browser = Client()
    browser.force_login(UserFactory(), backend=OIDC_BACKEND)

    answer = browser.get("/oidc/callback/", {"error": "login_required", "state": "s"})

    assert answer.status_code == 401
    assert "Your session has expired. Please log in again." in answer.content.decode()
    assert "_auth_user_id" not in browser.session


def test_a_callback_without_a_code_does_not_log_in(provider):
    answer = Client().get("/oidc/callback/")

    assert answer.status_code == 400
    assert "The login did not complete" in answer.content.decode()


def test_an_expired_browser_session_is_renewed_silently_at_the_provider(provider):
    browser = Client()
    browser.force_login(UserFactory(), backend=OIDC_BACKEND)
    session = browser.session
    session["oidc_id_token_expiration"] = 0
    session.save()

    answer = browser.get("/?page=2")

    assert answer.status_code == 302
    query = query_of(answer["Location"])
    assert answer["Location"].startswith("http://testserver/idp/authorize?")
    assert (query["prompt"], query["client_id"]) == ("none", "panda-monitor")
    assert browser.session["oidc_login_next"] == "/?page=2"


@pytest.mark.parametrize("path", ["/idp/.well-known/openid-configuration", "/login/", "/auth/atlas_auth_config.json"])
def test_the_login_flow_the_provider_and_the_apis_never_trigger_a_session_renewal(provider, path):
    browser = Client()
    browser.force_login(UserFactory(), backend=OIDC_BACKEND)
    session = browser.session
    session["oidc_id_token_expiration"] = 0
    session.save()

    answer = browser.get(path)

    assert "prompt=none" not in answer.get("Location", "")


def test_a_password_session_is_not_renewed_at_the_provider(provider, settings):
    settings.PANDA_PASSWORD_LOGIN = True
    browser = Client()
    browser.force_login(UserFactory(), backend="apps.accounts.browser.PasswordLoginBackend")

    assert browser.get("/").status_code == 200


def test_the_header_offers_log_in_to_anonymous_visitors_and_log_out_to_people_logged_in(provider):
    anonymous = Client().get("/", {"q": "1"}).content.decode()
    assert '<a class="login" href="/login/?next=/%3Fq%3D1">Log in</a>' in anonymous

    browser = Client()
    browser.force_login(UserFactory(username="jdoe"), backend=OIDC_BACKEND)
    session = browser.session
    session["oidc_id_token_expiration"] = 2**40
    session.save()
    page = browser.get("/").content.decode()
    assert '<span class="who" data-testid="account-user">jdoe</span>' in page
    assert re.search(r'<form class="logout" method="post" action="/logout/">.*csrfmiddlewaretoken', page, re.S)


def test_logout_needs_a_post_with_the_csrf_token(provider):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory(), backend=OIDC_BACKEND)

    assert browser.get("/logout/").status_code == 405
    assert browser.post("/logout/").status_code == 403
    assert "_auth_user_id" in browser.session


def test_logout_without_a_provider_returns_to_the_monitor(db, settings):
    settings.PANDA_BROWSER_LOGIN_VO = "nosuchvo"
    browser = Client()
    browser.force_login(UserFactory(), backend=OIDC_BACKEND)

    answer = browser.post("/logout/")

    assert (answer.status_code, answer["Location"]) == (302, "http://testserver/")
    assert "_auth_user_id" not in browser.session


# --- the admin ---------------------------------------------------------------------------------------------


def test_the_admin_login_sends_people_through_the_oidc_login(provider, settings):
    settings.PANDA_PASSWORD_LOGIN = False

    answer = Client().get("/admin/", follow=False)
    assert answer.status_code == 302
    login = Client().get(answer["Location"])

    assert (login.status_code, login["Location"]) == (302, "/login/?next=%2Fadmin%2F")


def test_the_admin_login_tells_a_logged_in_person_who_is_not_staff_why(provider, settings):
    settings.PANDA_PASSWORD_LOGIN = False
    browser = Client()
    browser.force_login(UserFactory(username="jdoe"), backend=OIDC_BACKEND)
    session = browser.session
    session["oidc_id_token_expiration"] = 2**40
    session.save()

    answer = browser.get("/admin/login/", {"next": "/admin/"})

    assert answer.status_code == 403
    assert "You are logged in as jdoe, who is not an administrator" in answer.content.decode()


def test_staff_reaching_the_admin_login_go_on_to_the_admin(provider, settings):
    settings.PANDA_PASSWORD_LOGIN = False
    browser = Client()
    browser.force_login(UserFactory(is_staff=True), backend="apps.accounts.browser.PasswordLoginBackend")

    answer = browser.get("/admin/login/", {"next": "/admin/"})

    assert (answer.status_code, answer["Location"]) == (302, "/admin/")


def test_password_login_works_only_when_allowed(db, settings):
    user = UserFactory(username="admin", is_staff=True)
    user.set_password("s3cret-pass")
    user.save()

    settings.PANDA_PASSWORD_LOGIN = False
    assert authenticate(username="admin", password="s3cret-pass") is None
    settings.PANDA_PASSWORD_LOGIN = True
    assert authenticate(username="admin", password="s3cret-pass") == user
    page = Client().get("/admin/login/")
    assert page.status_code == 200
    assert 'name="password"' in page.content.decode()
