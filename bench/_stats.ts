/**
 * The statistics the benchmark reports share: a median, and the confidence
 * interval of a ratio between two servers (or checkouts) run in turns.
 */

/** The median; `undefined` for no values. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Student's t, two-sided 95%, for 1–30 degrees of freedom (1.96 beyond). */
const _T95 = [
  12.71,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

/**
 * The 95% confidence interval of the ratio `a / b` from paired figures
 * (`a[i]` and `b[i]` were measured in the same rotation, next to each
 * other): the geometric mean of the per-pair ratios, ± Student's t on their
 * logarithms. Pairs with a missing or non-positive figure are skipped;
 * `undefined` under 3 pairs.
 *
 * @returns The lower and upper bounds.
 */
export function ratioInterval(
  a: readonly (number | undefined)[],
  b: readonly (number | undefined)[],
): [number, number] | undefined {
  const logs: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i], y = b[i];
    if (x !== undefined && y !== undefined && x > 0 && y > 0) logs.push(Math.log(x / y));
  }
  const n = logs.length;
  if (n < 3) return undefined;
  const mean = logs.reduce((sum, v) => sum + v, 0) / n;
  const sd = Math.sqrt(logs.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1));
  const half = (_T95[n - 2] ?? 1.96) * sd / Math.sqrt(n);
  return [Math.exp(mean - half), Math.exp(mean + half)];
}

/** An interval as `[0.97–1.02]`. */
export function formatInterval(interval: readonly [number, number]): string {
  return `[${interval[0].toFixed(2)}–${interval[1].toFixed(2)}]`;
}
