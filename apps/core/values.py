"""Normalisation of wire values (protocol.md §2.3), shared by both API generations."""

TRUE_VALUES = {"true", "1"}
NULL_LIKES = ("", "NULL", "None")


def as_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return str(value).strip().lower() in TRUE_VALUES


def is_null(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in NULL_LIKES)


def as_int(value, default: int | None = None) -> int | None:
    """``int(float(value))``; ``default`` when unparsable or null-like."""
    if is_null(value) or isinstance(value, bool):
        return default
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default


def as_non_negative_int(value) -> int:
    """mem/diskSpace/remaining_time: unparsable or negative -> 0 (no filter)."""
    number = as_int(value, 0) or 0
    return number if number > 0 else 0


def as_str(value, max_length: int | None = None) -> str | None:
    if is_null(value):
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:max_length] if max_length else text
