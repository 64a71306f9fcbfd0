"""Numbers as the report writes them: durations (`15m`, `1h 4m`), milestones (`0.1M`), config values (`10`)."""

from __future__ import annotations

import math
from decimal import Decimal


def format_duration(seconds: float) -> str:
    """Wall-clock time, rounded DOWN to whole minutes (whole seconds under a minute).

    45.9 -> '45s', 900 -> '15m', 3840 -> '1h 4m', 25080 -> '6h 58m', 7200 -> '2h 0m'.
    """
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    hours, minutes = divmod(whole // 60, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def format_milestone(kimg: int) -> str:
    """A milestone in millions of real images shown: 100 -> '0.1M', 1500 -> '1.5M', 2 -> '0.002M', 1000 -> '1M'."""
    text = format(Decimal(kimg) / 1000, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}M"


def format_value(raw: str) -> str:
    """A config value as logged to MLflow (a string), written for a label: '10.0' -> '10', '0.5' -> '0.5'.

    Non-numbers ('True', 'builtin:digits', '[100, 200]') are returned unchanged.
    """
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return raw
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def format_label_value(raw: str, digits: int = 4) -> str:
    """format_value for a row label, non-integers cut to `digits` significant digits: '18.759092183' -> '18.76'.

    Only labels are rounded; which runs form one configuration is decided on the exact values.
    """
    text = format_value(raw)
    try:
        number = float(text)
    except (TypeError, ValueError):
        return text
    return text if number.is_integer() else f"{number:.{digits}g}"
