// ModelSpec: the plain-JSON description of a network that a model file stores and the CLI builds.
// A layer is a linear map y = x·W + bias (W is [inFeatures × outFeatures]) stored dense or in a
// low-rank tensor format; src/tn/network.ts defines each format's factors and how W is folded.
//   cp      ranks = [R]                  factors U_k [n_k × R]
//   tucker  ranks = [R_0..R_{d-1}]       core [R_0 × … × R_{d-1}], factors U_k [n_k × R_k]
//   tt      ranks = [r_0..r_d], r_0 = r_d = 1, cores [r_k × n_k × r_{k+1}]
//   tr      ranks = [r_0..r_d], r_0 = r_d (the ring's closing bond), cores as TT
//   ttm     ranks = [r_0..r_d], r_0 = r_d = 1, cores [r_k × a_k × b_k × r_{k+1}]
// with modes n = [inModes..., outModes...] for the flat formats (d = their count) and paired
// (a_k, b_k) = (inModes[k], outModes[k]) for TTM.

import { product } from '../util/math.js';

import type { LayerFormat, TensorFields } from '../spec/types.js';
export type { LayerFormat } from '../spec/types.js';

export const FORMATS: readonly LayerFormat[] = ['dense', 'cp', 'tucker', 'tt', 'ttm', 'tr'];
/** A layer that owns weights (linear or embedding), as the format and tensor-network code sees it. */
export type LayerSpec = TensorFields;

/**
 * Chain ranks r_0..r_d for mode sizes n (TT; TTM with n_k = a_k·b_k), capped by `maxRank` and by
 * the largest rank an unfolding allows (r_k ≤ Π_{l<k} n_l·r_0 and ≤ Π_{l≥k} n_l·r_0): higher ranks
 * add parameters that can never raise the layer's expressiveness. `ring` is r_0 = r_d (1 for a train).
 */
export function chainRanks(sizes: number[], maxRank: number, ring = 1): number[] {
  const d = sizes.length;
  const ranks = [ring];
  for (let k = 1; k < d; k++) ranks.push(Math.min(maxRank, ring * product(sizes.slice(0, k)), ring * product(sizes.slice(k))));
  ranks.push(ring);
  return ranks;
}

export function ttmRanks(inModes: number[], outModes: number[], maxRank: number): number[] {
  return chainRanks(inModes.map((a, k) => a * outModes[k]), maxRank);
}

/** Tucker ranks: R_k ≤ n_k, and ≤ Π_{j≠k} R_j (a larger core dimension is redundant). */
export function tuckerRanks(sizes: number[], maxRank: number): number[] {
  const r = sizes.map((n) => Math.min(maxRank, n));
  for (let changed = true; changed;) {
    changed = false;
    r.forEach((rk, k) => {
      const others = product(r.filter((_, j) => j !== k));
      if (rk > others) { r[k] = others; changed = true; }
    });
  }
  return r;
}

/** Ranks of a format at a maximum rank, with the caps above. */
export function formatRanks(format: LayerFormat, inModes: number[], outModes: number[], maxRank: number): number[] | undefined {
  const n = [...inModes, ...outModes];
  switch (format) {
    case 'dense': return undefined;
    case 'cp': return [maxRank];
    case 'tucker': return tuckerRanks(n, maxRank);
    case 'tt': return chainRanks(n, maxRank);
    case 'tr': return chainRanks(n, maxRank, Math.min(maxRank, ...n.filter((x) => x > 1), maxRank));
    case 'ttm': return ttmRanks(inModes, outModes, maxRank);
  }
}

/** The default max rank of a format (the reference MNIST setup: 50 for CP, 20 otherwise). */
export const defaultMaxRank = (format: LayerFormat): number => (format === 'cp' ? 50 : 20);

const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

export type Fail = (field: string, value: unknown, fix: string) => never;

export function validateModes(layer: Record<string, unknown>, at: string, fail: Fail): void {
  const { inModes, outModes, ranks } = layer;
  const format = layer.format as LayerFormat;
  const isModes = (m: unknown): m is number[] => Array.isArray(m) && m.length >= 1 && m.every(isPosInt);
  if (!isModes(inModes)) fail(`${at}.inModes`, inModes, 'must be a non-empty array of integers >= 1');
  if (!isModes(outModes)) fail(`${at}.outModes`, outModes, 'must be a non-empty array of integers >= 1');
  const a = inModes as number[], b = outModes as number[];
  if (format === 'ttm' && a.length !== b.length) fail(`${at}.outModes`, b, `a TTM layer needs as many output as input modes (${a.length})`);
  if (product(a) !== layer.inFeatures) fail(`${at}.inModes`, a, `their product must equal inFeatures (${String(layer.inFeatures)})`);
  if (product(b) !== layer.outFeatures) fail(`${at}.outModes`, b, `their product must equal outFeatures (${String(layer.outFeatures)})`);
  const d = format === 'ttm' ? a.length : a.length + b.length;
  const want = format === 'cp' ? 1 : format === 'tucker' ? d : d + 1;
  if (!Array.isArray(ranks) || ranks.length !== want || !ranks.every(isPosInt)) {
    const what = format === 'cp' ? '[R]' : format === 'tucker' ? `${d} ranks, one per mode` : `${d + 1} ranks r_0..r_${d}`;
    fail(`${at}.ranks`, ranks, `a ${format} layer needs ${what}, integers >= 1`);
  }
  const r = ranks as number[];
  if ((format === 'tt' || format === 'ttm') && (r[0] !== 1 || r[r.length - 1] !== 1)) fail(`${at}.ranks`, r, 'the boundary ranks r_0 and r_d must be 1');
  if (format === 'tr' && r[0] !== r[r.length - 1]) fail(`${at}.ranks`, r, 'a tensor ring closes on itself: r_0 must equal r_d');
  if (d > 12) fail(`${at}.inModes`, a, `at most 12 modes in all (got ${d}); merge some modes`);
}
