import random
from decimal import Decimal

from ocpp_adapter.billing import MeterSample, RunningCost, SurgeWindow, Tariff, session_cost

T0 = 1_700_000_000.0
FLAT = Tariff(price_per_kwh=Decimal("0.30"))
SURGE = Tariff(Decimal("0.30"), (SurgeWindow(T0 + 600, T0 + 1200, Decimal("1.5")),))


def sample(seconds: float, wh: int | str) -> MeterSample:
    return MeterSample(timestamp=T0 + seconds, wh=Decimal(wh))


class Session:
    """What the caller keeps: every sample, handed to RunningCost when it re-prices."""

    def __init__(self, *samples: MeterSample) -> None:
        self.samples = list(samples)
        self.running = RunningCost()
        self.repriced = 0

    def history(self) -> list[MeterSample]:
        self.repriced += 1
        return self.samples

    def add(self, tariff: Tariff, *samples: MeterSample) -> Decimal:
        self.samples.extend(samples)
        return self.running.add(tariff, samples, self.history)


def test_in_order_samples_are_priced_one_interval_at_a_time():
    session = Session(sample(0, 0))
    assert session.add(FLAT, sample(3600, 10000)) == Decimal("3.00")
    assert session.add(FLAT, sample(7200, 20000)) == Decimal("6.00")
    assert session.add(FLAT, sample(7200, 21000)) == Decimal("6.30")
    assert session.repriced == 1  # only the first time, to learn the session


def test_cost_below_a_cent_accumulates_before_rounding():
    # 15 Wh each time: 0.0045 per interval; the sum is rounded, not each interval
    session = Session(sample(0, 0))
    costs = [session.add(FLAT, sample(10 * n, 15 * n)) for n in range(1, 4)]
    assert costs == [Decimal("0.00"), Decimal("0.01"), Decimal("0.01")]


def test_repeated_latest_sample_counts_once_without_repricing():
    session = Session(sample(0, 0))
    session.add(FLAT, sample(3600, 10000))
    assert session.add(FLAT, sample(3600, 10000), sample(3600, "10000.0")) == Decimal("3.00")
    assert session.repriced == 1


def test_late_sample_reprices_the_session_in_time_order():
    session = Session(sample(0, 0))
    session.add(SURGE, sample(1800, 30000))
    late = sample(900, 5000)
    assert session.add(SURGE, late) == session_cost(SURGE, session.samples)
    assert session.repriced == 2


def test_tariff_change_reprices_every_interval():
    session = Session(sample(0, 0))
    session.add(FLAT, sample(3600, 10000))
    doubled = Tariff(price_per_kwh=Decimal("0.60"))
    assert session.add(doubled, sample(7200, 20000)) == Decimal("12.00")


def test_history_given_unordered_is_priced_in_time_order():
    session = Session(sample(3600, 10000), sample(0, 0))
    assert session.add(FLAT, sample(7200, 20000)) == Decimal("6.00")


def test_always_equals_pricing_the_whole_session():
    """Random sessions with retransmits, late samples, meter resets and tariff changes."""
    rng = random.Random(20261124)
    tariffs = [FLAT, SURGE, Tariff(Decimal("0.25"), (SurgeWindow(T0, T0 + 300, Decimal(2)),))]
    incremental = 0
    for _ in range(300):
        session = Session(sample(0, 0))
        tariff = FLAT
        moment, wh = 0.0, 0
        for _ in range(rng.randint(1, 40)):
            if rng.random() < 0.05:
                tariff = rng.choice(tariffs)
            batch = []
            for _ in range(rng.randint(0, 3)):
                roll = rng.random()
                if roll < 0.1:
                    batch.append(rng.choice(session.samples))  # retransmitted
                elif roll < 0.15:
                    batch.append(sample(rng.uniform(0, moment + 1), rng.randint(0, wh + 1)))
                elif roll < 0.2:
                    moment += rng.uniform(1, 120)
                    batch.append(sample(moment, 0))  # meter reset
                else:
                    moment += rng.choice([0, rng.uniform(1, 120)])
                    wh += rng.randint(0, 500)
                    batch.append(sample(moment, wh))
            before = session.repriced
            assert session.add(tariff, *batch) == session_cost(tariff, session.samples)
            incremental += session.repriced == before
    assert incremental > 1000  # the fast path was taken, and checked, many times
