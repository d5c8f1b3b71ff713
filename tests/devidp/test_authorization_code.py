from django.test import Client

from apps.devidp.models import AuthorizationCode, DevAccount
from tests.devidp.conftest import ISSUER, basic_auth, claims_of, client_secret_of, csrf_of, header_of, query_of


def test_the_consent_page_lists_the_demo_accounts(flow, browser):
    page = browser.get("/idp/authorize", flow.params())

    assert page.status_code == 200
    text = page.content.decode()
    assert "Log in to panda-monitor" in text
    assert all(f'value="{username}"' in text for username in ("alice", "bob", "prodmgr"))


def test_approving_redirects_back_with_a_code_and_the_state(flow, browser):
    params = flow.params()
    page = browser.get("/idp/authorize", params)

    answer = browser.post(
        "/idp/authorize", {**params, "username": "bob", "action": "approve", "csrfmiddlewaretoken": csrf_of(page)}
    )

    assert answer.status_code == 302
    assert answer["Location"].startswith(flow.redirect_uri + "?")
    query = query_of(answer["Location"])
    assert query["state"] == "st-1" and query["code"]
    assert AuthorizationCode.objects.get().account.username == "bob"


def test_cancelling_redirects_back_with_access_denied_and_issues_no_code(flow, browser):
    params = flow.params()
    page = browser.get("/idp/authorize", params)

    answer = browser.post("/idp/authorize", {**params, "action": "deny", "csrfmiddlewaretoken": csrf_of(page)})

    assert query_of(answer["Location"]) == {
        "error": "access_denied",
        "error_description": "the user denied the request",
        "state": "st-1",
    }
    assert not AuthorizationCode.objects.exists()


def test_the_consent_form_is_protected_against_cross_site_posts(flow, browser):
    answer = browser.post("/idp/authorize", {**flow.params(), "username": "alice", "action": "approve"})

    assert answer.status_code == 403
    assert not AuthorizationCode.objects.exists()


def test_approving_without_choosing_an_account_shows_the_page_again(flow, browser):
    params = flow.params()
    page = browser.get("/idp/authorize", params)

    answer = browser.post("/idp/authorize", {**params, "action": "approve", "csrfmiddlewaretoken": csrf_of(page)})

    assert answer.status_code == 400
    assert "Choose an account" in answer.content.decode()
    assert not AuthorizationCode.objects.exists()


def test_a_bad_authorization_request_gets_a_clear_error_page_and_no_redirect(flow, browser):
    cases = {
        "unknown client 'nobody'": flow.params(client_id="nobody"),
        "redirect_uri 'http://evil.example/cb' is not registered for panda-monitor": flow.params(
            redirect_uri="http://evil.example/cb"
        ),
        "only response_type=code is supported": flow.params(response_type="token"),
        "code_challenge_method must be S256": flow.params(code_challenge_method="plain"),
        "client panda-client may not use the authorization code flow": flow.params(client_id="panda-client"),
        "unsupported scope(s): admin": flow.params(scope="openid admin"),
    }
    for message, params in cases.items():
        page = browser.get("/idp/authorize", params)
        assert page.status_code == 400, message
        assert "Login request refused" in page.content.decode()
        assert message in page.content.decode().replace("&#x27;", "'")
    assert not AuthorizationCode.objects.exists()


def test_the_code_gives_an_id_token_for_the_chosen_account(flow):
    answer = flow.redeem(flow.code("alice"))

    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert answer["Cache-Control"] == "no-store"
    claims = claims_of(body["id_token"])
    alice = DevAccount.objects.get(username="alice")
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "panda-monitor"
    assert claims["sub"] == alice.subject
    assert claims["nonce"] == "n-1"
    assert (claims["name"], claims["preferred_username"], claims["email"]) == (
        "Alice Atlas",
        "alice",
        "alice@example.org",
    )
    assert claims["groups"] == ["atlas"]
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert header_of(body["id_token"])["alg"] == "RS256"
    access = claims_of(body["access_token"])
    assert (access["sub"], access["client_id"], access["aud"], access["groups"]) == (
        alice.subject,
        "panda-monitor",
        "panda-monitor",
        ["atlas"],
    )
    assert access["scope"] == "openid profile email"
    assert body["refresh_token"]


def test_the_subject_is_stable_across_logins(flow):
    first = claims_of(flow.redeem(flow.code("bob")).json()["id_token"])["sub"]
    second = claims_of(flow.redeem(flow.code("bob")).json()["id_token"])["sub"]

    assert first == second != claims_of(flow.redeem(flow.code("alice")).json()["id_token"])["sub"]


def test_a_code_works_only_once(flow):
    code = flow.code()
    assert flow.redeem(code).status_code == 200

    again = flow.redeem(code)

    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "the authorization code has expired or was already used",
    }


def test_an_expired_code_is_refused(flow):
    code = flow.code()
    AuthorizationCode.objects.update(expires="2000-01-01 00:00:00")

    assert flow.redeem(code).json()["error"] == "invalid_grant"


def test_pkce_needs_the_matching_verifier(flow):
    code = flow.code()

    wrong = flow.redeem(code, code_verifier="not-the-verifier")
    missing = flow.redeem(code, code_verifier=None)

    assert wrong.json() == {"error": "invalid_grant", "error_description": "PKCE verification failed (code_verifier)"}
    assert missing.json()["error"] == "invalid_grant"
    assert not AuthorizationCode.objects.get().used
    assert flow.redeem(code).status_code == 200


def test_the_code_is_bound_to_the_redirect_uri_and_the_client(flow):
    code = flow.code()

    other_uri = flow.redeem(code, redirect_uri="http://testserver/other/")

    assert other_uri.json()["error_description"] == "redirect_uri does not match the authorization request"
    assert not AuthorizationCode.objects.get().used


def test_the_token_endpoint_authenticates_a_confidential_client(flow):
    code = flow.code()

    no_secret = flow.redeem(code, client_secret=None)
    wrong = flow.redeem(code, client_secret="guess")
    basic = Client().post(
        "/idp/token",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
         "code_verifier": flow.verifier},
        HTTP_AUTHORIZATION=basic_auth("panda-monitor", client_secret_of("panda-monitor")),
    )  # fmt: skip

    assert (no_secret.status_code, no_secret.json()["error"]) == (401, "invalid_client")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert no_secret["WWW-Authenticate"].startswith("Basic")
    assert basic.status_code == 200 and "id_token" in basic.json()


def _approve(flow, browser, username="bob"):
    params = flow.params()
    page = browser.get("/idp/authorize", params)
    return browser.post(
        "/idp/authorize", {**params, "username": username, "action": "approve", "csrfmiddlewaretoken": csrf_of(page)}
    )


def test_prompt_none_without_an_earlier_choice_answers_login_required_and_issues_no_code(flow, browser):
    answer = browser.get("/idp/authorize", flow.params(prompt="none"))

    assert answer.status_code == 302
    assert query_of(answer["Location"]) == {
        "error": "login_required",
        "error_description": "no account chosen in this browser",
        "state": "st-1",
    }
    assert not AuthorizationCode.objects.exists()


def test_prompt_none_after_an_approval_issues_a_code_for_the_same_account_silently(flow, browser):
    _approve(flow, browser, "prodmgr")

    answer = browser.get("/idp/authorize", flow.params(prompt="none"))

    assert answer.status_code == 302
    query = query_of(answer["Location"])
    assert query["state"] == "st-1" and query["code"]
    assert [code.account.username for code in AuthorizationCode.objects.order_by("id")] == ["prodmgr", "prodmgr"]


def test_logging_out_of_the_provider_forgets_the_account_for_prompt_none(flow, browser):
    _approve(flow, browser)
    browser.get("/idp/logout")

    answer = browser.get("/idp/authorize", flow.params(prompt="none"))

    assert query_of(answer["Location"])["error"] == "login_required"
