"""Fire alarms and grid feeds as oneM2M AEs: their resource shapes and reading schemas.

    <cse>/<fire alarm AE>    api Ncitycse.firealarm, lbl device:fire-alarm, site:<site>
      alarm                  CNT; CIN {"active": true|false, "detail": "..."}
    <cse>/<grid feed AE>     api Ncitycse.gridfeed, lbl device:grid-feed, feeder:<feeder>
      forecast               CNT; latest CIN is the feed's current forecast:
                             {"overloads": [{"start", "end", "limitW"}],
                              "surges": [{"start", "end", "factor"}]}

A device grants the interlock service (`Cinterlocks`) RETRIEVE and DISCOVERY on its AE so
that it can be found and subscribed to. A reading's `con` is a JSON object, or a string
holding one (what a plain oneM2M client sends). A reading that does not fit the schema
raises `MalformedReading`: the interlocks record it as ignored and never act on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ocpp_adapter.billing import SurgeWindow
from ocpp_adapter.tariffs import parse_time

FIRE_ALARM_API = "Ncitycse.firealarm"
GRID_FEED_API = "Ncitycse.gridfeed"
FIRE_ALARM_LABEL = "device:fire-alarm"
GRID_FEED_LABEL = "device:grid-feed"
ALARM_CONTAINER = "alarm"
FORECAST_CONTAINER = "forecast"
SITE_PREFIX = "site:"
FEEDER_PREFIX = "feeder:"
READING_CNF = "application/json:0"
LABEL_VALUE_MAX = 64


class MalformedReading(ValueError):
    """A device reading that does not fit its schema."""


@dataclass(frozen=True, slots=True)
class AlarmReading:
    active: bool
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class OverloadWindow:
    start: float
    end: float
    limit_w: Decimal


@dataclass(frozen=True, slots=True)
class GridForecast:
    overloads: tuple[OverloadWindow, ...] = ()
    surges: tuple[SurgeWindow, ...] = ()

    def overload_at(self, moment: float) -> OverloadWindow | None:
        """The strictest overload window in force at `moment`."""
        active = [w for w in self.overloads if w.start <= moment < w.end]
        return min(active, key=lambda w: w.limit_w, default=None)

    def edges_after(self, moment: float) -> list[float]:
        return sorted({t for w in self.overloads for t in (w.start, w.end) if t > moment})


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def label_value(labels: list[str] | None, prefix: str) -> str | None:
    """The value of the first `prefix<value>` label."""
    for label in labels or []:
        if isinstance(label, str) and label.startswith(prefix) and len(label) > len(prefix):
            return label[len(prefix) :]
    return None


def valid_label_value(value: str) -> bool:
    return 0 < len(value) <= LABEL_VALUE_MAX and value.isprintable() and " " not in value


def _content_object(con: Any) -> dict[str, Any]:
    if isinstance(con, str):
        try:
            con = json.loads(con)
        except ValueError:
            raise MalformedReading("content is not JSON") from None
    if not isinstance(con, dict):
        raise MalformedReading("content must be a JSON object")
    return con


def parse_alarm(con: Any) -> AlarmReading:
    """An alarm reading: `{"active": true|false}`, optionally `"detail": "<text>"`."""
    body = _content_object(con)
    active = body.get("active")
    if not isinstance(active, bool):
        raise MalformedReading('"active" must be true or false')
    detail = body.get("detail")
    if detail is not None and not isinstance(detail, str):
        raise MalformedReading('"detail" must be a string')
    return AlarmReading(active, detail)


def _window_times(item: Any, what: str) -> tuple[dict[str, Any], float, float]:
    if not isinstance(item, dict):
        raise MalformedReading(f"each {what} window must be an object")
    try:
        start, end = parse_time(item["start"]), parse_time(item["end"])
    except KeyError as exc:
        raise MalformedReading(f"{what} window without {exc.args[0]!r}") from None
    except (ValueError, TypeError):
        raise MalformedReading(f"{what} window times must be ISO 8601") from None
    if end <= start:
        raise MalformedReading(f"{what} window ends before it starts")
    return item, start, end


def _positive(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise MalformedReading(f"{name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MalformedReading(f"{name} must be a number") from None
    if not number.is_finite() or number < 0:
        raise MalformedReading(f"{name} must be a non-negative number")
    return number


def parse_forecast(con: Any) -> GridForecast:
    """A grid forecast: overload windows (start, end, limitW) and surge windows (start, end,
    factor >= 1). Every window is checked; one bad window rejects the whole reading."""
    body = _content_object(con)
    overloads, surges = body.get("overloads", []), body.get("surges", [])
    if not isinstance(overloads, list) or not isinstance(surges, list):
        raise MalformedReading('"overloads" and "surges" must be lists')
    parsed_overloads = []
    for entry in overloads:
        item, start, end = _window_times(entry, "overload")
        parsed_overloads.append(OverloadWindow(start, end, _positive(item.get("limitW"), "limitW")))
    parsed_surges = []
    for entry in surges:
        item, start, end = _window_times(entry, "surge")
        factor = _positive(item.get("factor"), "factor")
        if factor < 1:
            raise MalformedReading("a surge factor is at least 1")
        parsed_surges.append(SurgeWindow(start, end, factor))
    return GridForecast(tuple(parsed_overloads), tuple(parsed_surges))
