import pytest
from django.conf import settings

from tests.e2e.pilot_support import install_trf, make_site


@pytest.fixture
def site(live_server, tmp_path):
    """A queue, its storage endpoint under tmp_path and the payload script, served by the live server."""
    install_trf(settings.PANDA_TRF_DIR)
    return make_site(tmp_path, live_server.url)


@pytest.fixture
def devidp(live_server, settings, tmp_path):
    """The development identity provider switched on in the live server and set up as the quick start does;
    the server validates its tokens (AuthConfig "atlas" points at it)."""
    from apps.accounts.oidc.keys import forget_keys, register_local_documents
    from apps.devidp.documents import local_document
    from apps.devidp.keys import forget_signing_key
    from apps.devidp.services.setup import devidp_setup
    from tests.e2e.devidp_support import LiveProvider

    issuer = f"{live_server.url}/idp"
    settings.PANDA_DEVIDP_ENABLED = True
    settings.PANDA_DEVIDP_ISSUER = issuer
    settings.PANDA_DEVIDP_KEY_FILE = tmp_path / "devidp" / "signing-key.pem"
    settings.VAR_DIR = tmp_path / "var"  # where devidp_setup writes the robots' secrets
    forget_signing_key()
    devidp_setup()
    register_local_documents(issuer, local_document)
    forget_keys()
    yield LiveProvider(issuer=issuer)
    forget_signing_key()
    forget_keys()
