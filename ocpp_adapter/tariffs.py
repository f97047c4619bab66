"""Tariffs: the instances of `evcs/tariffs`, as decimal strings.

    {"pricePerKwh": "0.30",
     "validFrom": "2026-11-24T06:00:00Z",
     "surges": [{"start": "2026-11-24T17:00:00Z", "end": "2026-11-24T19:00:00Z",
                 "factor": "1.5"}]}

A tariff takes effect at `validFrom`, or when it was written (its `ct`) without one; every
instance stays, so a session is priced by the tariff in force in each of its intervals.
Times are ISO 8601 (extended or the oneM2M basic form), UTC unless an offset is given."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from ocpp_adapter.billing import Pricing, SurgeWindow, Tariff, TariffSchedule
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.tree import TARIFFS, instances, latest

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


def tariff_content(
    price_per_kwh: Decimal, surges: list[dict] | None = None, valid_from: str | None = None
) -> dict:
    con = {"pricePerKwh": str(price_per_kwh), "surges": surges or []}
    if valid_from is not None:
        parse_time(valid_from)
        con["validFrom"] = valid_from
    tariff_from_content(con)
    return con


def effective_time(cin: dict) -> float:
    """When a tariff instance takes effect: its `validFrom`, else its creation time."""
    valid_from = cin["con"].get("validFrom")
    return parse_time(valid_from if valid_from is not None else cin["ct"])


def schedule_of(cins: list[dict]) -> TariffSchedule:
    """The schedule of tariff instances (oldest first); a later write wins a tie."""
    timed = sorted(
        (effective_time(cin), order, tariff_from_content(cin["con"]))
        for order, cin in enumerate(cins)
    )
    return TariffSchedule(tuple((moment, tariff) for moment, _, tariff in timed))


def with_surges(pricing: Pricing, extra: tuple[SurgeWindow, ...]) -> Pricing:
    """The same tariffs with more surge windows in each."""
    if isinstance(pricing, Tariff):
        return replace(pricing, surges=pricing.surges + extra)
    return TariffSchedule(
        tuple((moment, replace(t, surges=t.surges + extra)) for moment, t in pricing.entries)
    )


class TariffSource:
    """Reads the tariffs, cached for a few seconds (they change rarely)."""

    def __init__(self, client: CSEClient, origin: str, cache_seconds: float = 2.0) -> None:
        self.client = client
        self.origin = origin
        self.cache_seconds = cache_seconds
        self._schedule: tuple[float, str | None, Pricing] | None = None
        self.charger_surges: Callable[[str], tuple[SurgeWindow, ...]] = lambda cp_id: ()
        """Surge windows that apply to one charger only (its grid feeder's)."""

    async def pricing(self, cp_id: str | None = None) -> Pricing:
        """The tariffs in force over time; for a charger, with its feeder's surge windows."""
        pricing = await self._schedule_of_tariffs()
        extra = self.charger_surges(cp_id) if cp_id is not None else ()
        return with_surges(pricing, tuple(extra)) if extra else pricing

    async def _schedule_of_tariffs(self) -> Pricing:
        """Every tariff with when it took effect. Re-read only when the latest instance
        changed (checked at most every `cache_seconds`)."""
        moment = time.monotonic()
        if self._schedule is not None and moment - self._schedule[0] < self.cache_seconds:
            return self._schedule[2]
        newest = await latest(self.client, TARIFFS, self.origin)
        newest_ri = newest["ri"] if newest is not None else None
        if self._schedule is not None and self._schedule[1] == newest_ri:
            pricing = self._schedule[2]
        elif newest is None:
            pricing = FREE
        else:
            pricing = schedule_of(await instances(self.client, TARIFFS, self.origin))
        self._schedule = (moment, newest_ri, pricing)
        return pricing
