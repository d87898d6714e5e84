/** Product of a list of sizes (1 for an empty list): element counts of shapes, mode products. */
export const product = (xs: readonly number[]): number => xs.reduce((p, x) => p * x, 1);
