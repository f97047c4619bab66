"""Reading schemas of fire alarms and grid feeds, and the interlocks' notification endpoint."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ocpp_adapter.devices import MalformedReading, parse_alarm, parse_forecast
from ocpp_adapter.notification_receiver import NotificationReceiver
from ocpp_adapter.tariffs import parse_time

START, END = "2026-11-24T17:00:00Z", "2026-11-24T19:00:00Z"


def test_alarm_reading_as_object_or_json_string() -> None:
    assert parse_alarm({"active": True}).active is True
    reading = parse_alarm(json.dumps({"active": False, "detail": "drill over"}))
    assert (reading.active, reading.detail) == (False, "drill over")


@pytest.mark.parametrize(
    ("con", "why"),
    [
        ({"active": "yes"}, '"active" must be true or false'),
        ({"active": 1}, '"active" must be true or false'),
        ({}, '"active" must be true or false'),
        ("not json", "content is not JSON"),
        ([True], "content must be a JSON object"),
        ({"active": True, "detail": 5}, '"detail" must be a string'),
    ],
)
def test_malformed_alarm_readings_are_refused(con: Any, why: str) -> None:
    with pytest.raises(MalformedReading, match=why):
        parse_alarm(con)


def test_forecast_windows() -> None:
    forecast = parse_forecast(
        {
            "overloads": [{"start": START, "end": END, "limitW": 11000},
                          {"start": START, "end": END, "limitW": "7400.5"}],
            "surges": [{"start": START, "end": END, "factor": "1.5"}],
        }
    )  # fmt: skip
    inside = parse_time("2026-11-24T18:00:00Z")
    assert forecast.overload_at(inside).limit_w == Decimal("7400.5")  # the strictest
    assert forecast.overload_at(parse_time(END)) is None  # end is exclusive
    assert forecast.surges[0].factor == Decimal("1.5")
    assert forecast.edges_after(inside) == [parse_time(END)]
    assert parse_forecast("{}").overloads == ()


@pytest.mark.parametrize(
    ("con", "why"),
    [
        ({"overloads": [{"start": END, "end": START, "limitW": 1}]}, "ends before it starts"),
        ({"overloads": [{"start": START, "limitW": 1}]}, "without 'end'"),
        ({"overloads": [{"start": "soon", "end": END, "limitW": 1}]}, "ISO 8601"),
        ({"overloads": [{"start": START, "end": END, "limitW": -5}]}, "non-negative"),
        ({"overloads": [{"start": START, "end": END, "limitW": True}]}, "must be a number"),
        ({"overloads": [{"start": START, "end": END}]}, "limitW must be a number"),
        ({"surges": [{"start": START, "end": END, "factor": "0.9"}]}, "at least 1"),
        ({"surges": [{"start": START, "end": END, "factor": "NaN"}]}, "non-negative"),
        ({"surges": {"start": START}}, "must be lists"),
        ({"surges": ["x"]}, "must be an object"),
    ],
)
def test_malformed_forecasts_are_refused_whole(con: Any, why: str) -> None:
    with pytest.raises(MalformedReading, match=why):
        parse_forecast(con)


async def test_notification_endpoint_takes_posts_to_its_secret_path_only() -> None:
    taken: list[dict] = []
    receiver = NotificationReceiver(taken.append)
    await receiver.start()
    try:
        base = receiver.url.rsplit("/", 1)[0]
        body = {"m2m:sgn": {"nev": {"rep": {"m2m:cin": {"con": {"active": True}}}}}}
        async with httpx.AsyncClient() as http:
            forged = await http.post(f"{base}/notify", json=body)
            assert (forged.status_code, forged.headers["X-M2M-RSC"]) == (403, "4103")
            assert taken == []
            bad = await http.post(receiver.url, content=b"{not json")
            assert (bad.status_code, bad.headers["X-M2M-RSC"]) == (400, "4000")
            good = await http.post(receiver.url, json=body)
            again = await http.post(receiver.url, json=body)  # same connection, kept alive
        assert (good.status_code, again.status_code) == (200, 200)
        assert good.headers["X-M2M-RSC"] == "2000"
        assert taken == [body, body]
    finally:
        await receiver.stop()
