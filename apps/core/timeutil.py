"""PanDA stores naive UTC timestamps (``USE_TZ = False``)."""

import datetime as dt

WIRE_FORMAT = "%Y-%m-%d %H:%M:%S"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def parse_wire_time(value) -> dt.datetime | None:
    """Accept ``YYYY-mm-dd HH:MM:SS`` (v1) and epoch seconds as number or numeric string (pilot 3.11)."""
    if value is None or value == "" or value in ("NULL", "None"):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), dt.UTC).replace(tzinfo=None)
    text = str(value).strip()
    try:
        return dt.datetime.fromtimestamp(float(text), dt.UTC).replace(tzinfo=None)
    except ValueError:
        pass
    for fmt in (WIRE_FORMAT, "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def format_wire_time(value: dt.datetime | None) -> str | None:
    return value.strftime(WIRE_FORMAT) if value else None
