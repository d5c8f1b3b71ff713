import json
import stat
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apps.devidp import keys
from apps.devidp.keys import forget_signing_key, jwks, public_jwk, rotate_signing_key, signing_key


def pem_of(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(autouse=True)
def _on(idp_settings):
    return idp_settings


def test_the_key_is_generated_at_first_use_into_a_private_file(idp_settings):
    path = idp_settings.PANDA_DEVIDP_KEY_FILE
    assert not path.exists()

    key = signing_key()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    assert key.private_key.key_size == 2048
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_the_key_is_reused_after_a_restart(idp_settings):
    first = signing_key()
    content = idp_settings.PANDA_DEVIDP_KEY_FILE.read_bytes()
    forget_signing_key()  # a new process

    again = signing_key()

    assert again.kid == first.kid
    assert idp_settings.PANDA_DEVIDP_KEY_FILE.read_bytes() == content


def test_a_key_file_created_by_another_process_first_is_used_not_overwritten(idp_settings, monkeypatch):
    path = idp_settings.PANDA_DEVIDP_KEY_FILE
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    real_link = keys.os.link

    def link_after_the_other_process(src, dst):
        # The other web worker wins the race between our existence check and our link.
        path.write_bytes(pem_of(other))
        real_link(src, dst)

    monkeypatch.setattr(keys.os, "link", link_after_the_other_process)

    assert signing_key().kid == public_jwk(other.public_key())["kid"]
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]


def test_the_kid_is_the_rfc_7638_thumbprint():
    # The example of RFC 7638 §3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3o"
        "knjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZH"
        "zu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEg"
        "U8awapJzKnqDKgw"
    )
    jwk = jwt.PyJWK({"kty": "RSA", "e": "AQAB", "n": n})

    assert public_jwk(jwk.key)["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_jwks_publishes_the_public_key_only():
    [published] = jwks()["keys"]

    assert published == {**signing_key().jwk, "alg": "RS256", "use": "sig", "kty": "RSA"}
    assert set(published) == {"kty", "e", "n", "kid", "use", "alg"}


def test_rotation_signs_with_the_new_key_and_keeps_the_old_public_key_published(idp_settings):
    old = signing_key()

    old_kid, new_kid = rotate_signing_key()

    assert (old_kid, signing_key().kid) == (old.kid, new_kid)
    assert new_kid != old_kid
    assert [key["kid"] for key in jwks()["keys"]] == [new_kid, old_kid]
    assert stat.S_IMODE(idp_settings.PANDA_DEVIDP_KEY_FILE.stat().st_mode) == 0o600


def test_a_running_process_notices_a_key_file_replaced_by_another_process(idp_settings):
    path = idp_settings.PANDA_DEVIDP_KEY_FILE
    before = signing_key().kid
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    replacement = path.with_name("replacement.pem")
    replacement.write_bytes(pem_of(other))
    replacement.replace(path)  # what devidp_rotate_key does in its own process

    assert signing_key().kid == public_jwk(other.public_key())["kid"] != before


def test_a_retired_key_leaves_the_jwks_once_no_token_signed_with_it_can_be_valid(idp_settings):
    old_kid, new_kid = rotate_signing_key()
    retired_file = idp_settings.PANDA_DEVIDP_KEY_FILE.with_name("signing-key.pem.retired.json")
    entries = json.loads(retired_file.read_text())
    lifetime = max(idp_settings.PANDA_DEVIDP_ID_TOKEN_SECONDS, idp_settings.PANDA_DEVIDP_ROBOT_TOKEN_SECONDS)
    entries[0]["retired"] = time.time() - lifetime - 3601
    retired_file.write_text(json.dumps(entries))

    assert [key["kid"] for key in jwks()["keys"]] == [new_kid]
