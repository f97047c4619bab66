"""The page's own logic, run in the browser: exact decimal money (like the billing's Decimal
with ROUND_HALF_UP), and the idTag rules the adapter applies."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import open_dashboard

MONEY = """async ([fn, args]) => {
  const money = await import("/dashboard/js/money.js");
  try {
    const value = money[fn](...args);
    return typeof value === "bigint" ? money.centsToString(value) : String(value);
  } catch (error) {
    return `error: ${error.message}`;
  }
}"""

ID_TAG = """async (text) => {
  const actions = await import("/dashboard/js/actions.js");
  try {
    return actions.normalizeIdTag(text);
  } catch (error) {
    return `error: ${error.message}`;
  }
}"""

CASES = [
    ("toCents", ["0.005"], "0.01"),
    ("toCents", ["-0.005"], "-0.01"),
    ("toCents", ["0.0049999"], "0.00"),
    ("toCents", ["12"], "12.00"),
    ("toCents", ["0.004999999999999999999"], "0.00"),
    ("toCents", ["123456789012345678.125"], "123456789012345678.13"),
    ("parseAmount", ["10.5"], "10.50"),
    ("parseAmount", ["0.1"], "0.10"),
    ("parseAmount", ["1.005"], 'error: "1.005" is not an amount (like 10 or 10.50)'),
    ("parseAmount", ["-1"], 'error: "-1" is not an amount (like 10 or 10.50)'),
    ("parseAmount", ["1e3"], 'error: "1e3" is not an amount (like 10 or 10.50)'),
    ("parseAmount", ["0"], "error: the amount must be more than zero"),
    ("subtract", ["2500", "500"], "2000"),
    ("subtract", ["1000.1", "999.95"], "0.15"),
    ("subtract", ["0.3", "0.1"], "0.2"),
    ("subtract", ["5", "7.25"], "-2.25"),
    ("energyCostCents", [[["1000", "1"]], "0.30"], "0.30"),
    ("energyCostCents", [[["1000", "1.5"]], "0.30"], "0.45"),
    ("energyCostCents", [[["20", "1"]], "0.25"], "0.01"),
    ("energyCostCents", [[["10", "1"], ["10", "1"]], "0.25"], "0.01"),
    ("energyCostCents", [[["3333.333", "1"], ["6666.667", "1"]], "0.10"], "1.00"),
    ("energyCostCents", [[["-500", "1"]], "0.30"], "0.00"),
    ("energyCostCents", [[["1", "1"]] * 16, "0.30"], "0.00"),
    ("energyCostCents", [[["1", "1"]] * 17, "0.30"], "0.01"),
]


@pytest.fixture
async def page(city, browser):
    return await open_dashboard(browser, city)


async def test_money_is_exact_and_rounds_half_up(page):
    for fn, args, expected in CASES:
        assert await page.evaluate(MONEY, [fn, args]) == expected, (fn, args)


async def test_id_tags_follow_the_adapter_rules(page):
    assert await page.evaluate(ID_TAG, " ab12 ") == "AB12"
    assert await page.evaluate(ID_TAG, "x" * 20) == "X" * 20
    for bad in ("x" * 21, "a b", "a/b", "", "é1"):
        assert (await page.evaluate(ID_TAG, bad)).startswith("error: "), bad
