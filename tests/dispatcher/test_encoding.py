from urllib.parse import urlencode

from apps.dispatcher.encoding import legacy_urlencoded


def test_the_legacy_urlencoded_body_is_what_urlencode_of_the_str_values_gives():
    payload = {
        "StatusCode": 0,
        "jobPars": "--in=EVNT.1 --out 'a b' ~x/y&z=1 é",
        "inFiles": "a.root,b.root",
        "checksum": "ad:0000001",
        "debug": True,
        "nothing": None,
        "jobs": [{"PandaID": 1}],
    }

    body = legacy_urlencoded(payload).content.decode()

    expected = urlencode(
        [
            (key, value if isinstance(value, str) else ('[{"PandaID": 1}]' if key == "jobs" else str(value)))
            for key, value in payload.items()
        ]
    )
    assert body == expected
