import random
from decimal import Decimal

from ocpp_adapter.billing import MeterSample, RunningCost, SurgeWindow, Tariff, session_cost

T0 = 1_700_000_000.0
FLAT = Tariff(price_per_kwh=Decimal("0.30"))
SURGE = Tariff(Decimal("0.30"), (SurgeWindow(T0 + 600, T0 + 1200, Decimal("1.5")),))


def sample(seconds: float, wh: int | str) -> MeterSample:
    return MeterSample(timestamp=T0 + seconds, wh=Decimal(wh))


def test_in_order_samples_are_priced_one_interval_at_a_time():
    running = RunningCost([sample(0, 0)])
    assert running.add(FLAT, [sample(3600, 10000)]) == Decimal("3.00")
    assert running.add(FLAT, [sample(7200, 20000)]) == Decimal("6.00")


def test_cost_below_a_cent_accumulates_before_rounding():
    # 15 Wh each time: 0.0045 per interval; rounding the sum, not each interval
    running = RunningCost([sample(0, 0)])
    costs = [running.add(FLAT, [sample(10 * n, 15 * n)]) for n in range(1, 4)]
    assert costs == [Decimal("0.00"), Decimal("0.01"), Decimal("0.01")]


def test_repeated_sample_counts_once():
    running = RunningCost([sample(0, 0)])
    running.add(FLAT, [sample(3600, 10000)])
    assert running.add(FLAT, [sample(3600, 10000), sample(3600, "10000.0")]) == Decimal("3.00")


def test_late_sample_reprices_the_session_in_time_order():
    running = RunningCost([sample(0, 0)])
    running.add(SURGE, [sample(1800, 30000)])
    late = sample(900, 5000)
    assert running.add(SURGE, [late]) == session_cost(
        SURGE, [sample(0, 0), sample(1800, 30000), late]
    )


def test_tariff_change_reprices_every_interval():
    running = RunningCost([sample(0, 0)])
    running.add(FLAT, [sample(3600, 10000)])
    doubled = Tariff(price_per_kwh=Decimal("0.60"))
    assert running.add(doubled, [sample(7200, 20000)]) == Decimal("12.00")


def test_samples_given_at_creation_may_be_unordered():
    running = RunningCost([sample(3600, 10000), sample(0, 0)])
    assert running.add(FLAT, [sample(7200, 20000)]) == Decimal("6.00")


def test_always_equals_pricing_the_whole_session():
    """Random sessions with retransmits, late samples, meter resets and tariff changes."""
    rng = random.Random(20261124)
    tariffs = [FLAT, SURGE, Tariff(Decimal("0.25"), (SurgeWindow(T0, T0 + 300, Decimal(2)),))]
    for _ in range(200):
        seen = [sample(0, 0)]
        running = RunningCost(seen)
        tariff = FLAT
        moment, wh = 0.0, 0
        for _ in range(rng.randint(1, 40)):
            if rng.random() < 0.1:
                tariff = rng.choice(tariffs)
            batch = []
            for _ in range(rng.randint(0, 3)):
                roll = rng.random()
                if roll < 0.15 and seen:
                    batch.append(rng.choice(seen))  # retransmitted
                elif roll < 0.25:
                    batch.append(sample(rng.uniform(0, moment + 1), rng.randint(0, wh + 1)))
                elif roll < 0.3:
                    moment += rng.uniform(1, 120)
                    batch.append(sample(moment, 0))  # meter reset
                else:
                    moment += rng.choice([0, rng.uniform(1, 120)])
                    wh += rng.randint(0, 500)
                    batch.append(sample(moment, wh))
            seen.extend(batch)
            assert running.add(tariff, batch) == session_cost(tariff, seen)
