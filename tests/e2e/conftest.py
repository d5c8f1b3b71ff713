import pytest
from django.conf import settings

from apps.sites.services.demo_grid import demo_grid_load
from tests.e2e.pilot_support import PilotSite, install_trf, make_site
from tests.pilot.support import FAST_CONFIG


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


@pytest.fixture
def demo_site(live_server, settings, tmp_path, devidp):
    """The quick start's grid; the pilot sends Harvester's robot token of the development provider."""
    settings.VAR_DIR = tmp_path / "var"
    grid = demo_grid_load()
    config = tmp_path / "pilot.cfg"
    config.write_text(FAST_CONFIG)
    workdir = tmp_path / "wd"
    workdir.mkdir()
    return PilotSite(
        queue="DEMO_QUEUE",
        site="DEMO_SITE",
        endpoint="DEMO_SITE_DATADISK",
        se_root=grid.storage_dir,
        token_file=devidp.robot_token_file("panda-harvester", tmp_path / "harvester.token"),
        config=config,
        workdir=workdir,
        server_url=live_server.url,
        origin="atlas.production",
    )
