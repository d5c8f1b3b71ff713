from apps.dispatcher.encoding import legacy_text, v1_ok
from apps.dispatcher.registry import legacy_method, v1_method


@legacy_method("isAlive")
def is_alive_legacy(call):
    return legacy_text("alive=yes")


@v1_method("system", "is_alive", "GET")
def is_alive(call):
    return v1_ok(None, "alive")
