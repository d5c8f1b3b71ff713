import signal

import pytest

from pilot import errors


def test_it_knows_every_code_of_the_spec_table_with_its_name():
    assert len(errors.CODES) == 147
    assert errors.CODES["PANDAKILL"] == 1144
    assert errors.CODES["LOOPINGJOB"] == 1150
    assert errors.CODES["PAYLOADEXCEEDMAXMEM"] == 1235
    assert errors.CODES["PANDAQUEUENOTONLINE"] == 1386
    assert errors.name(1305) == "PAYLOADEXECUTIONFAILURE"


def test_it_builds_the_diag_from_the_standard_message_and_cuts_it_to_256_characters():
    assert errors.diag(1144) == "This job was killed by panda server"
    assert errors.diag(1150, "idle 7300 s") == "Looping job killed by pilot: idle 7300 s"
    assert len(errors.diag(1305, "x" * 1000)) == 256


@pytest.mark.parametrize(
    ("exit_code", "pilot_error"),
    [(0, 0), (2, 1378), (3, 1368), (251, 1315), (-1, 1315), (1367, 1367), (1, 1305), (139, 1305)],
)
def test_it_maps_payload_exit_codes_like_pilot_3(exit_code, pilot_error):
    assert errors.payload_exit_error(exit_code) == pilot_error


@pytest.mark.parametrize(
    ("pilot_error", "shell"),
    [
        (0, 0),
        (errors.SITE_OFFLINE, 64),
        (1377, 64),
        (1008, 65),
        (1199, 66),
        (1103, 67),
        (1163, 68),
        (1098, 69),
        (1301, 70),
        (1116, 71),
        (1117, 72),
        (1331, 77),
        (1359, 78),
        (1318, 79),
        (1213, 81),
        (1385, 82),
        (1386, 83),
        (1208, 130),
        (1202, 131),
        (1206, 135),
        (1200, 137),
        (1207, 138),
        (1203, 139),
        (1201, 143),
        (1204, 152),
        (1305, 1),
        (1144, 1),
    ],
)
def test_it_exits_with_the_shell_code_harvester_expects(pilot_error, shell):
    assert errors.shell_exit_code(pilot_error) == shell


def test_harvester_can_map_the_shell_code_back_and_unknown_codes_give_minus_one():
    assert errors.error_from_shell_exit(82) == 1385
    assert errors.error_from_shell_exit(143) == 1201
    assert errors.error_from_shell_exit(1) == -1


def test_signals_map_to_their_120x_codes():
    assert errors.signal_error_code(signal.SIGTERM) == 1201
    assert errors.signal_error_code(signal.SIGINT) == 1208
    assert errors.signal_error_code(signal.SIGHUP) == 1200


def test_apptainer_failures_are_recognised_in_stderr():
    assert errors.container_stderr_error("FATAL: Failed to mount image foo")[0] == 1309
    assert errors.container_stderr_error("all good") == (0, "")
