// ModelSpec: the plain-JSON description of a network that a model file stores and the CLI builds.
// A layer is a linear map y = x·W + bias (W is [inFeatures × outFeatures]) stored dense or in a
// low-rank tensor format; src/tn/network.ts defines each format's factors and how W is folded.
//   cp      ranks = [R]                  factors U_k [n_k × R]
//   tucker  ranks = [R_0..R_{d-1}]       core [R_0 × … × R_{d-1}], factors U_k [n_k × R_k]
//   tt      ranks = [r_0..r_d], r_0 = r_d = 1, cores [r_k × n_k × r_{k+1}]
//   tr      ranks = [r_0..r_d], r_0 = r_d (the ring's closing bond), cores as TT
//   ttm     ranks = [r_0..r_d], r_0 = r_d = 1, cores [r_k × a_k × b_k × r_{k+1}]
// with modes n = [inModes..., outModes...] for the flat formats (d = their count) and paired
// (a_k, b_k) = (inModes[k], outModes[k]) for TTM. Each format lives in src/formats/<format>.ts.

import { product } from '../util/math.js';
import { FORMAT_NAMES, formatOf } from '../formats/index.js';

import type { LayerFormat, TensorFields } from './types.js';
export const FORMATS = FORMAT_NAMES;
export type { LayerFormat } from './types.js';

/** A layer that owns weights (linear or embedding), as the format and tensor-network code sees it. */
export type LayerSpec = TensorFields;

export { chainRanks, ttmRanks, tuckerRanks } from '../formats/index.js';

/** Ranks of a format at a maximum rank, with the caps of its src/formats file. */
export function formatRanks(format: LayerFormat, inModes: number[], outModes: number[], maxRank: number): number[] | undefined {
  return formatOf(format).ranks(inModes, outModes, maxRank);
}

/** The default max rank of a format (the reference MNIST setup: 50 for CP, 20 otherwise). */
export const defaultMaxRank = (format: LayerFormat): number => formatOf(format).defaultMaxRank;

const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

export type Fail = (field: string, value: unknown, fix: string) => never;

export function validateModes(layer: Record<string, unknown>, at: string, fail: Fail): void {
  const { inModes, outModes, ranks } = layer;
  const format = formatOf(layer.format as LayerFormat);
  const isModes = (m: unknown): m is number[] => Array.isArray(m) && m.length >= 1 && m.every(isPosInt);
  if (!isModes(inModes)) fail(`${at}.inModes`, inModes, 'must be a non-empty array of integers >= 1');
  if (!isModes(outModes)) fail(`${at}.outModes`, outModes, 'must be a non-empty array of integers >= 1');
  const a = inModes as number[], b = outModes as number[];
  format.validateModes(a, b, at, fail);
  if (product(a) !== layer.inFeatures) fail(`${at}.inModes`, a, `their product must equal inFeatures (${String(layer.inFeatures)})`);
  if (product(b) !== layer.outFeatures) fail(`${at}.outModes`, b, `their product must equal outFeatures (${String(layer.outFeatures)})`);
  format.validateRanks(ranks, a, b, at, fail);
  const d = format.order(a, b);
  if (d > 12) fail(`${at}.inModes`, a, `at most 12 modes in all (got ${d}); merge some modes`);
}
