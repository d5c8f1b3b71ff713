"""Discovery documents and JWKS (iam.md §3 step 4): caching, in-process documents, TLS-verified HTTP."""

import datetime as dt
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from apps.accounts.oidc import keys
from tests.oidc_issuer import ISSUER, TestIssuer


def test_documents_are_cached_for_the_configured_seconds(settings, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    settings.PANDA_OIDC_KEYS_CACHE_SECONDS = 600

    keys.discovery(ISSUER.config_url)
    keys.signing_key(ISSUER.jwks_url, ISSUER.kid)
    keys.discovery(ISSUER.config_url)
    keys.signing_key(ISSUER.jwks_url, ISSUER.kid)
    assert len(ISSUER.fetches) == 2
    clock[0] += 601
    keys.discovery(ISSUER.config_url)
    keys.signing_key(ISSUER.jwks_url, ISSUER.kid)

    assert ISSUER.fetches == [ISSUER.config_url, ISSUER.jwks_url] * 2


def test_documents_under_a_registered_prefix_are_answered_in_process(monkeypatch):
    monkeypatch.setattr(keys, "_local", {})  # the registrations of the test only
    local = TestIssuer(
        issuer="http://127.0.0.1:9/idp",
        config_url="http://127.0.0.1:9/idp/.well-known/openid-configuration",
        jwks_url="http://127.0.0.1:9/idp/jwks",
    )
    keys.register_local_documents(
        "http://127.0.0.1:9/idp/", lambda url: local.fetch(url) if "jwks" in url or "well-known" in url else None
    )

    document = keys.discovery(local.config_url)
    key = keys.signing_key(document["jwks_uri"], local.kid)

    assert document["issuer"] == "http://127.0.0.1:9/idp" and key is not None
    assert local.fetches == [local.config_url, local.jwks_url] and ISSUER.fetches == []
    with pytest.raises(keys.KeyFetchError, match="not found"):
        keys.fetch_document("http://127.0.0.1:9/idp/other")
    # Only under the prefix: /idpx is another path, left to the fetcher (here the test issuer's).
    with pytest.raises(keys.KeyFetchError, match="cannot fetch http://127.0.0.1:9/idpx/jwks"):
        keys.fetch_document("http://127.0.0.1:9/idpx/jwks")


def test_a_discovery_document_without_issuer_or_jwks_uri_is_refused():
    keys.set_fetcher(lambda url: {"issuer": "https://x.test.invalid"})

    with pytest.raises(keys.KeyFetchError, match="has no jwks_uri"):
        keys.discovery("https://x.test.invalid/.well-known/openid-configuration")


def test_keys_that_cannot_verify_rs256_are_left_out():
    good = ISSUER.jwks()["keys"][0]
    keys.set_fetcher(
        lambda url: {
            "keys": [
                {**good, "kid": "enc", "use": "enc"},
                {**good, "kid": "ps", "alg": "PS256"},
                {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
                {**good, "kid": "broken", "n": "!!"},
                good,
            ]
        }
    )

    found = {kid: keys.signing_key("https://x.test.invalid/jwks", kid) for kid in ("enc", "ps", "ec", "broken")}

    assert found == dict.fromkeys(found) and keys.signing_key("https://x.test.invalid/jwks", good["kid"])


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate, serving one JSON document."""
    directory = tmp_path_factory.mktemp("tls")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"issuer": "https://127.0.0.1", "jwks_uri": "https://127.0.0.1/jwks"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/.well-known/openid-configuration", cert_file
    server.shutdown()
    server.server_close()


def test_the_default_fetcher_refuses_a_certificate_it_cannot_verify(tls_server, settings):
    url, _ = tls_server
    settings.PANDA_OIDC_CA_BUNDLE = ""
    keys.set_fetcher(None)

    with pytest.raises(keys.KeyFetchError, match="CERTIFICATE_VERIFY_FAILED"):
        keys.discovery(url)


def test_the_default_fetcher_trusts_the_configured_ca_bundle(tls_server, settings):
    url, cert_file = tls_server
    settings.PANDA_OIDC_CA_BUNDLE = str(cert_file)
    keys.set_fetcher(None)

    assert keys.discovery(url)["jwks_uri"] == "https://127.0.0.1/jwks"


def test_the_default_fetcher_only_speaks_http():
    with pytest.raises(keys.KeyFetchError, match="unsupported URL"):
        keys.http_fetch("file:///etc/passwd")
