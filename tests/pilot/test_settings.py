import pytest

from pilot.settings import Settings


def test_it_uses_pilot_3_timers_by_default():
    settings = Settings()
    assert settings.heartbeat == 1800
    assert settings.debug_heartbeat == 60
    assert settings.lost_heartbeat == 10800
    assert settings.http_timeout == 120
    assert settings.looping_limit_default == 7200
    assert settings.heartbeat_period(True) == 60


def test_a_config_file_overrides_the_timers(tmp_path, monkeypatch):
    path = tmp_path / "pilot.cfg"
    path.write_text("[Pilot]\nheartbeat = 30\nkill_grace = 3\nhttp_attempts = 5\nunknown_key = 1\n")
    monkeypatch.setenv("HARVESTER_PILOT_CONFIG", str(path))
    settings = Settings.load()
    assert settings.heartbeat == 30.0
    assert settings.kill_grace == 3.0
    assert settings.http_attempts == 5


def test_a_bad_value_in_the_config_file_is_an_error(tmp_path):
    path = tmp_path / "pilot.cfg"
    path.write_text("[Pilot]\nheartbeat = soon\n")
    with pytest.raises(ValueError, match="heartbeat"):
        Settings.load(str(path))
    with pytest.raises(FileNotFoundError):
        Settings.load(str(tmp_path / "missing.cfg"))
