"""The tariff in force: the latest instance of `evcs/tariffs`, as decimal strings.

    {"pricePerKwh": "0.30",
     "surges": [{"start": "2026-11-24T17:00:00Z", "end": "2026-11-24T19:00:00Z",
                 "factor": "1.5"}]}

Times are ISO 8601 (extended or the oneM2M basic form), UTC unless an offset is given."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from ocpp_adapter.billing import SurgeWindow, Tariff
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.tree import TARIFFS, latest

FREE = Tariff(price_per_kwh=Decimal(0))


def parse_time(text: str) -> float:
    """Epoch seconds of an ISO 8601 timestamp (`2026-01-01T10:00:00Z`, `20260101T100000`)."""
    value = str(text).strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = datetime.strptime(value.removesuffix("Z")[:15], "%Y%m%dT%H%M%S")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def decimal_of(value: object, name: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a decimal number, got {value!r}") from None
    if not result.is_finite() or result < 0:
        raise ValueError(f"{name} must be a non-negative decimal number, got {value!r}")
    return result


def tariff_from_content(con: dict) -> Tariff:
    surges = tuple(
        SurgeWindow(
            start=parse_time(s["start"]),
            end=parse_time(s["end"]),
            factor=decimal_of(s["factor"], "factor"),
        )
        for s in con.get("surges") or []
    )
    return Tariff(price_per_kwh=decimal_of(con["pricePerKwh"], "pricePerKwh"), surges=surges)


def tariff_content(price_per_kwh: Decimal, surges: list[dict] | None = None) -> dict:
    con = {"pricePerKwh": str(price_per_kwh), "surges": surges or []}
    tariff_from_content(con)
    return con


class TariffSource:
    """Reads the tariff in force, cached for a few seconds (it changes rarely)."""

    def __init__(self, client: CSEClient, origin: str, cache_seconds: float = 2.0) -> None:
        self.client = client
        self.origin = origin
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, Tariff] | None = None
        self.charger_surges: Callable[[str], tuple[SurgeWindow, ...]] = lambda cp_id: ()
        """Surge windows that apply to one charger only (its grid feeder's)."""

    async def current(self, cp_id: str | None = None) -> Tariff:
        """The tariff in force; for a charger, with its feeder's surge windows added."""
        tariff = await self._base()
        extra = self.charger_surges(cp_id) if cp_id is not None else ()
        return replace(tariff, surges=tariff.surges + tuple(extra)) if extra else tariff

    async def _base(self) -> Tariff:
        moment = time.monotonic()
        if self._cached is not None and moment - self._cached[0] < self.cache_seconds:
            return self._cached[1]
        cin = await latest(self.client, TARIFFS, self.origin)
        tariff = FREE if cin is None else tariff_from_content(cin["con"])
        self._cached = (moment, tariff)
        return tariff
