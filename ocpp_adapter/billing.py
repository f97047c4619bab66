"""E-wallet billing: prices, session cost from meter samples, hold and refund.

Pure functions on Decimal money, so billing is testable without a charger or a socket.
Energy is priced interval by interval at the tariff in force (a tariff change in the middle
of a session prices each part at its own tariff), by the timestamps the charger put in its
messages (not by when they arrived): a session queued offline during a surge
window is still priced as a surge session."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
WH_PER_KWH = Decimal(1000)


def money(value: Decimal | str | int) -> Decimal:
    """A money amount rounded to cents (half up)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class SurgeWindow:
    start: float
    end: float
    factor: Decimal


@dataclass(frozen=True, slots=True)
class Tariff:
    price_per_kwh: Decimal
    surges: tuple[SurgeWindow, ...] = field(default_factory=tuple)

    def factor_at(self, moment: float) -> Decimal:
        """The highest surge factor in force at `moment` (1 outside every window)."""
        factors = [w.factor for w in self.surges if w.start <= moment < w.end]
        return max(factors, default=Decimal(1))

    def boundaries(self, start: float, end: float) -> list[float]:
        """Times in (start, end) where the price may change."""
        edges = {t for w in self.surges for t in (w.start, w.end) if start < t < end}
        return sorted(edges)

    def tariff_at(self, _moment: float) -> Tariff:
        return self

    def price_at(self, moment: float) -> Decimal:
        """The price per kWh at `moment`, surge included."""
        return self.price_per_kwh * self.factor_at(moment)


@dataclass(frozen=True, slots=True)
class TariffSchedule:
    """Tariffs with the moment each took effect, oldest first. The tariff in force at a
    moment is the last one that took effect by then; before the first, the first applies
    (a charger clock slightly behind the CSE's never makes energy free)."""

    entries: tuple[tuple[float, Tariff], ...]

    def tariff_at(self, moment: float) -> Tariff:
        chosen = self.entries[0][1]
        for effective, tariff in self.entries:
            if effective > moment:
                break
            chosen = tariff
        return chosen

    def price_at(self, moment: float) -> Decimal:
        return self.tariff_at(moment).price_at(moment)

    def boundaries(self, start: float, end: float) -> list[float]:
        """Times in (start, end) where a tariff takes effect or a surge window of a tariff
        in force in that span begins or ends."""
        edges = {t for t, _ in self.entries if start < t < end}
        for tariff in self._in_force(start, end):
            edges.update(tariff.boundaries(start, end))
        return sorted(edges)

    def _in_force(self, start: float, end: float) -> list[Tariff]:
        return [self.tariff_at(start)] + [t for moment, t in self.entries if start < moment < end]


Pricing = Tariff | TariffSchedule


@dataclass(frozen=True, slots=True)
class MeterSample:
    timestamp: float
    wh: Decimal


def interval_cost(pricing: Pricing, first: MeterSample, second: MeterSample) -> Decimal:
    """The unrounded cost of the energy between two samples. Within the interval the power
    is taken as constant, so energy is split across price changes in proportion to time.
    A register that went down (meter reset) delivered no energy in that interval."""
    energy = second.wh - first.wh
    if energy <= 0:
        return Decimal(0)
    duration = Decimal(str(second.timestamp - first.timestamp))
    if duration <= 0:
        return energy / WH_PER_KWH * pricing.price_at(second.timestamp)
    cost = Decimal(0)
    points = [
        first.timestamp,
        *pricing.boundaries(first.timestamp, second.timestamp),
        second.timestamp,
    ]
    for start, end in zip(points, points[1:], strict=False):
        share = Decimal(str(end - start)) / duration
        cost += energy * share / WH_PER_KWH * pricing.price_at(start)
    return cost


def ordered_samples(samples: Iterable[MeterSample]) -> list[MeterSample]:
    """Samples by time; a retransmitted sample (same time and value) counts once."""
    unique = {(s.timestamp, s.wh): s for s in samples}
    return [unique[key] for key in sorted(unique)]


def energy_wh(samples: Sequence[MeterSample]) -> Decimal:
    """Energy delivered: the sum of the register's increases (resets are not negative)."""
    ordered = ordered_samples(samples)
    return sum(
        (max(b.wh - a.wh, Decimal(0)) for a, b in zip(ordered, ordered[1:], strict=False)),
        Decimal(0),
    )


def session_cost(pricing: Pricing, samples: Iterable[MeterSample]) -> Decimal:
    ordered = ordered_samples(samples)
    total = sum(
        (interval_cost(pricing, a, b) for a, b in zip(ordered, ordered[1:], strict=False)),
        Decimal(0),
    )
    return money(total)


class RunningCost:
    """`session_cost` of a growing list of samples, kept up to date one sample at a time.

    Chargers send samples in time order, so a new sample usually extends the priced
    intervals by one: that costs one `interval_cost` instead of re-pricing the whole
    session (which made every MeterValues of a long session slower than the last). Only
    the latest sample and the total are kept; the samples stay with the caller, who hands
    them over (`history`) when a sample older than the latest, or a changed tariff, needs
    the whole session re-priced. So the result always equals `session_cost`."""

    __slots__ = ("_latest", "_tariff", "_total")

    def __init__(self) -> None:
        self._latest: MeterSample | None = None
        self._tariff: Pricing | None = None
        self._total = Decimal(0)

    def add(
        self,
        tariff: Pricing,
        samples: Iterable[MeterSample],
        history: Callable[[], Iterable[MeterSample]],
    ) -> Decimal:
        """The cost so far at `tariff`, rounded to cents, after the new `samples`;
        `history` gives every sample of the session, the new ones included."""
        in_order = tariff == self._tariff and self._latest is not None
        for item in samples:
            latest = self._latest
            if latest is None or (item.timestamp, item.wh) > (latest.timestamp, latest.wh):
                if in_order:
                    self._total += interval_cost(tariff, latest, item)
                self._latest = item
            elif (item.timestamp, item.wh) != (latest.timestamp, latest.wh):
                in_order = False
        if not in_order:
            ordered = ordered_samples(history())
            self._tariff = tariff
            self._latest = ordered[-1] if ordered else None
            self._total = sum(
                (interval_cost(tariff, a, b) for a, b in zip(ordered, ordered[1:], strict=False)),
                Decimal(0),
            )
        return money(self._total)


@dataclass(frozen=True, slots=True)
class Settlement:
    cost: Decimal
    """What the energy cost at the tariff."""
    charged: Decimal
    """What the wallet pays: the cost, but never more than the hold."""
    refund: Decimal
    """The unused part of the hold, returned to the wallet (the paper's `extra`)."""


def settle(hold: Decimal, cost: Decimal) -> Settlement:
    hold = money(hold)
    charged = min(money(cost), hold)
    return Settlement(cost=money(cost), charged=charged, refund=hold - charged)


def hold_amount(balance: Decimal, requested: Decimal | None) -> Decimal:
    """The amount held at start: what was asked for, never more than the balance;
    the whole balance when nothing was asked for."""
    balance = money(balance)
    if requested is None:
        return max(balance, Decimal(0))
    return max(min(money(requested), balance), Decimal(0))
