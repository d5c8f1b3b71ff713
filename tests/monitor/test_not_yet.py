"""The iDDS and data-carousel URLs of monitor.md §1 answer 501 with a reason, never a bare 404."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["/idds/", "/idds/daggraph/?requestid=1", "/idds/getiddsfortask/?jeditaskid=1", "/dc/dash/", "/api/dc/dash/"],
)
def test_a_page_this_server_cannot_serve_yet_says_why(client, url):
    html = client.get(url)
    data = client.get(url, HTTP_ACCEPT="application/json")

    assert html.status_code == data.status_code == 501
    assert "is not available on this server" in html.content.decode()
    assert "iDDS" in data.json()["error"]


def test_the_carousel_pages_point_to_the_dataset_pages(client):
    assert "/dataset/?datasetname=" in client.get("/api/dc/stuckfiles/?json").json()["error"]
