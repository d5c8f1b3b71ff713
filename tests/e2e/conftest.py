import pytest
from django.conf import settings

from tests.e2e.pilot_support import install_trf, make_site


@pytest.fixture
def site(live_server, tmp_path):
    """A queue, its storage endpoint under tmp_path and the payload script, served by the live server."""
    install_trf(settings.PANDA_TRF_DIR)
    return make_site(tmp_path, live_server.url)
