// Exact decimal money: amounts are decimal strings on the wire and BigInt here, never floats.

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** A decimal string exactly, as an integer and a power of ten: "12.345" is [12345n, 3]. */
export function exact(text) {
  const match = DECIMAL.exec(String(text).trim());
  if (!match) throw new Error(`not a decimal number: ${text}`);
  const [, sign, whole, fraction = ""] = match;
  const value = BigInt(whole + fraction);
  return [sign ? -value : value, fraction.length];
}

function scaleUp([value, scale], to) {
  return value * 10n ** BigInt(to - scale);
}

/** a - b of two decimal strings, exactly, as a decimal string. */
export function subtract(a, b) {
  const [x, y] = [exact(a), exact(b)];
  const scale = Math.max(x[1], y[1]);
  const diff = scaleUp(x, scale) - scaleUp(y, scale);
  const digits = (diff < 0n ? -diff : diff).toString().padStart(scale + 1, "0");
  const text = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return diff < 0n ? `-${text}` : text;
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

/** A decimal string rounded half up to integer cents, like the billing's `money()`. */
export function toCents(text) {
  const [value, scale] = exact(text);
  return divideRounded(value * 100n, 10n ** BigInt(scale));
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

/** Cost of energy in cents: the sum over intervals of Wh x price per kWh x factor, exact,
 * rounded once at the end like the billing does. `intervals` are [wh, factor] pairs of
 * decimal strings. */
export function energyCostCents(intervals, pricePerKwh) {
  const terms = [];
  for (const [wh, factor] of intervals) {
    const energy = exact(wh);
    if (energy[0] <= 0n) continue;
    const [price, f] = [exact(pricePerKwh), exact(factor)];
    terms.push([energy[0] * price[0] * f[0], energy[1] + price[1] + f[1]]);
  }
  const scale = Math.max(0, ...terms.map((t) => t[1]));
  const total = terms.reduce((sum, term) => sum + scaleUp(term, scale), 0n);
  // total / 10^scale is in Wh x price per kWh: cents = that x 100 / 1000
  return divideRounded(total * 100n, 10n ** BigInt(scale) * 1000n);
}

export function formatWh(wh) {
  const value = Number(wh);
  if (!Number.isFinite(value)) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(3)} kWh` : `${value.toFixed(0)} Wh`;
}
