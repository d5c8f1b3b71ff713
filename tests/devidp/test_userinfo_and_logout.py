from django.test import Client

from apps.devidp.models import DevAccount, DevClient
from apps.devidp.services.tokens import robot_access_token_create


def test_userinfo_describes_the_owner_of_an_access_token(flow):
    access = flow.redeem(flow.code("prodmgr")).json()["access_token"]

    answer = Client().get("/idp/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}")

    assert answer.status_code == 200
    assert answer.json() == {
        "sub": DevAccount.objects.get(username="prodmgr").subject,
        "name": "Production Manager",
        "preferred_username": "prodmgr",
        "email": "prodmgr@example.org",
        "groups": ["atlas", "atlas/production"],
    }


def test_userinfo_refuses_a_missing_forged_or_robot_token(flow):
    access = flow.redeem(flow.code()).json()["access_token"]
    header, payload, signature = access.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    robot = robot_access_token_create(client=DevClient.objects.get(client_id="panda-pilot"))

    for authorization in ("", f"Bearer {forged}", f"Bearer {robot}", "Bearer not-a-jwt"):
        answer = Client().get("/idp/userinfo", HTTP_AUTHORIZATION=authorization)
        assert answer.status_code == 401, authorization
        assert answer.json()["error"] == "invalid_token"
        assert answer["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_logout_redirects_to_a_registered_post_logout_uri(flow):
    id_token = flow.redeem(flow.code()).json()["id_token"]

    by_client = Client().get(
        "/idp/logout", {"client_id": "panda-monitor", "post_logout_redirect_uri": "http://testserver/", "state": "s"}
    )
    by_hint = Client().get("/idp/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": "http://testserver/"})

    assert (by_client.status_code, by_client["Location"]) == (302, "http://testserver/?state=s")
    assert (by_hint.status_code, by_hint["Location"]) == (302, "http://testserver/")


def test_logout_never_redirects_to_an_unregistered_uri(flow):
    answer = Client().get(
        "/idp/logout", {"client_id": "panda-monitor", "post_logout_redirect_uri": "http://evil.example/"}
    )
    no_client = Client().get("/idp/logout", {"post_logout_redirect_uri": "http://testserver/"})

    assert answer.status_code == 200
    assert "Not redirecting to http://evil.example/" in answer.content.decode()
    assert no_client.status_code == 200
    assert "Logged out" in no_client.content.decode()
