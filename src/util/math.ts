/** Product of a list of sizes (1 for an empty list): element counts of shapes, mode products. */
export const product = (xs: readonly number[]): number => xs.reduce((p, x) => p * x, 1);

/** Median of a non-empty list (the mean of the middle two for an even count): benchmark rounds. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
