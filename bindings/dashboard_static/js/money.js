// Exact decimal money: amounts are decimal strings on the wire and BigInt here, never floats.

const MICRO = 1_000_000n;
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** A decimal string as an integer count of millionths. */
export function toMicro(text) {
  const match = DECIMAL.exec(String(text).trim());
  if (!match) throw new Error(`not a decimal number: ${text}`);
  const [, sign, whole, fraction = ""] = match;
  const digits = (fraction + "000000").slice(0, 6);
  let value = BigInt(whole) * MICRO + BigInt(digits);
  if (fraction.length > 6 && Number(fraction[6]) >= 5) value += 1n;
  return sign ? -value : value;
}

/** `numerator / denominator` rounded half up (away from zero) to an integer. */
export function divideRounded(numerator, denominator) {
  const negative = numerator < 0n !== denominator < 0n;
  const n = numerator < 0n ? -numerator : numerator;
  const d = denominator < 0n ? -denominator : denominator;
  const quotient = (n * 2n + d) / (2n * d);
  return negative ? -quotient : quotient;
}

/** Integer cents as a decimal string with two places ("12.30"). */
export function centsToString(cents) {
  const negative = cents < 0n;
  const value = negative ? -cents : cents;
  const text = `${value / 100n}.${String(value % 100n).padStart(2, "0")}`;
  return negative ? `-${text}` : text;
}

export function toCents(text) {
  return divideRounded(toMicro(text), 10_000n);
}

/** A positive amount as typed by the operator: at most two decimals. */
export function parseAmount(text, { allowZero = false } = {}) {
  const clean = String(text || "").trim();
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) {
    throw new Error(`${JSON.stringify(clean)} is not an amount (like 10 or 10.50)`);
  }
  const cents = toCents(clean);
  if (cents === 0n && !allowZero) throw new Error("the amount must be more than zero");
  return cents;
}

/** Cost of energy in cents: sum over intervals of Wh x price per kWh x factor, rounded once
 * at the end like the billing does. `intervals` are [wh, factor] pairs of decimal strings. */
export function energyCostCents(intervals, pricePerKwh) {
  const price = toMicro(pricePerKwh);
  let total = 0n;
  for (const [wh, factor] of intervals) {
    const energy = toMicro(wh);
    if (energy > 0n) total += energy * price * toMicro(factor);
  }
  // total has scale 1e18 and is per kWh: cents = total * 100 / (1e18 * 1000)
  return divideRounded(total * 100n, MICRO * MICRO * MICRO * 1000n);
}

export function formatWh(wh) {
  const value = Number(wh);
  if (!Number.isFinite(value)) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(3)} kWh` : `${value.toFixed(0)} Wh`;
}
