from decimal import Decimal

from ocpp_adapter.billing import (
    MeterSample,
    SurgeWindow,
    Tariff,
    TariffSchedule,
    energy_wh,
    hold_amount,
    money,
    session_cost,
    settle,
)

T0 = 1_700_000_000.0
FLAT = Tariff(price_per_kwh=Decimal("0.30"))


def sample(minutes: float, wh: int) -> MeterSample:
    return MeterSample(timestamp=T0 + minutes * 60, wh=Decimal(wh))


def test_flat_tariff_prices_energy_in_kwh():
    assert session_cost(FLAT, [sample(0, 1000), sample(60, 11000)]) == Decimal("3.00")


def test_cost_is_rounded_half_up_to_cents():
    # 15 Wh at 0.30/kWh = 0.0045 -> 0.00; 25 Wh -> 0.0075 -> 0.01
    assert session_cost(FLAT, [sample(0, 0), sample(1, 15)]) == Decimal("0.00")
    assert session_cost(FLAT, [sample(0, 0), sample(1, 25)]) == Decimal("0.01")


def test_surge_window_prices_only_the_energy_inside_it():
    surge = Tariff(Decimal("0.30"), (SurgeWindow(T0 + 30 * 60, T0 + 60 * 60, Decimal(2)),))
    # 10 kWh evenly over an hour, the second half at twice the price: 5*0.30 + 5*0.60
    assert session_cost(surge, [sample(0, 0), sample(60, 10000)]) == Decimal("4.50")


def test_pricing_follows_message_timestamps_not_order_of_arrival():
    surge = Tariff(Decimal("0.30"), (SurgeWindow(T0, T0 + 30 * 60, Decimal(3)),))
    arrived_late = [sample(60, 10000), sample(0, 0), sample(30, 5000)]
    assert session_cost(surge, arrived_late) == Decimal("6.00")  # 5*0.90 + 5*0.30


def test_tariff_change_prices_each_part_of_a_session_at_its_own_tariff():
    cheap_then_dear = TariffSchedule(((T0 - 3600, FLAT), (T0 + 30 * 60, Tariff(Decimal("0.50")))))
    # 10 kWh evenly over an hour, the price changes at half time: 5*0.30 + 5*0.50
    assert session_cost(cheap_then_dear, [sample(0, 0), sample(60, 10000)]) == Decimal("4.00")
    # a session entirely before the change keeps the old price
    assert session_cost(cheap_then_dear, [sample(0, 0), sample(20, 1000)]) == Decimal("0.30")


def test_surge_of_the_tariff_in_force_applies_and_ends_with_it():
    surging = Tariff(Decimal("0.30"), (SurgeWindow(T0, T0 + 3600, Decimal(2)),))
    schedule = TariffSchedule(((T0 - 60, surging), (T0 + 30 * 60, Tariff(Decimal("0.40")))))
    # first half at 0.30 x 2 (surge of the first tariff), second half at the new 0.40
    assert session_cost(schedule, [sample(0, 0), sample(60, 10000)]) == Decimal("5.00")


def test_the_first_tariff_applies_before_it_took_effect():
    schedule = TariffSchedule(((T0 + 60, FLAT),))  # a charger clock a minute behind
    assert session_cost(schedule, [sample(0, 0), sample(60, 10000)]) == Decimal("3.00")


def test_retransmitted_sample_counts_once():
    assert session_cost(
        FLAT, [sample(0, 0), sample(30, 5000), sample(30, 5000), sample(60, 10000)]
    ) == Decimal("3.00")
    assert energy_wh([sample(0, 0), sample(30, 5000), sample(30, 5000)]) == Decimal(5000)


def test_meter_reset_adds_no_negative_energy():
    samples = [sample(0, 9000), sample(10, 10000), sample(20, 200), sample(30, 1200)]
    assert energy_wh(samples) == Decimal(2000)
    assert session_cost(FLAT, samples) == Decimal("0.60")


def test_settlement_refunds_the_unused_hold():
    result = settle(Decimal("20.00"), Decimal("3.456"))
    assert (result.charged, result.refund) == (Decimal("3.46"), Decimal("16.54"))


def test_settlement_never_charges_more_than_the_hold():
    result = settle(Decimal("5.00"), Decimal("7.10"))
    assert (result.cost, result.charged, result.refund) == (
        Decimal("7.10"),
        Decimal("5.00"),
        Decimal("0.00"),
    )


def test_hold_is_requested_amount_capped_by_balance_or_whole_balance():
    assert hold_amount(Decimal("50.00"), Decimal("20")) == Decimal("20.00")
    assert hold_amount(Decimal("12.34"), Decimal("20")) == Decimal("12.34")
    assert hold_amount(Decimal("12.34"), None) == Decimal("12.34")
    assert hold_amount(Decimal("-1.00"), None) == Decimal("0.00")


def test_money_is_decimal_and_exact():
    assert money("0.1") + money("0.2") == money("0.3")
