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

export const FORMATS = FORMAT_NAMES;
export type LayerFormat = (typeof FORMATS)[number];
export type Activation = 'relu' | 'none';

export interface LayerSpec {
  name: string;
  format: LayerFormat;
  inFeatures: number;
  outFeatures: number;
  activation: Activation;
  /** Tensor formats: input and output mode sizes (products equal the feature counts) and ranks (see above). */
  inModes?: number[];
  outModes?: number[];
  ranks?: number[];
}

export interface ModelSpec {
  version: 1;
  inputFeatures: number;
  classes: number;
  /** Inputs are fed as (x − mean) / std; the training set's pixel statistics, saved with the model. */
  inputNorm?: { mean: number; std: number };
  /**
   * Bayesian low-rank prior on the tensor layers' factors (src/bayes): 'svi' keeps a Gaussian
   * posterior scale σ = softplus(ρ) per factor entry, 'map' a point estimate. Absent: plain training.
   */
  inference?: Inference;
  layers: LayerSpec[];
}

export type Inference = 'svi' | 'map';

export class SpecError extends Error {
  constructor(message: string) { super(message); this.name = 'SpecError'; }
}

export { chainRanks, ttmRanks, tuckerRanks } from '../formats/index.js';

/** Ranks of a format at a maximum rank, with the caps of its src/formats file. */
export function formatRanks(format: LayerFormat, inModes: number[], outModes: number[], maxRank: number): number[] | undefined {
  return formatOf(format).ranks(inModes, outModes, maxRank);
}

/** The default max rank of a format (the reference MNIST setup: 50 for CP, 20 otherwise). */
export const defaultMaxRank = (format: LayerFormat): number => formatOf(format).defaultMaxRank;

/**
 * The default MNIST network of the README: 784-512-10, ReLU. Mode shapes follow the reference
 * setup (METHOD.md §1.9): TTM [7,4,7,4]→[4,4,8,4] and [16,32]→[2,5]; the flat formats fold fc1 as
 * [28,28 | 16,32] and fc2 as [32,16 | 10].
 */
export function defaultSpec(format: LayerFormat, maxRank = defaultMaxRank(format)): ModelSpec {
  const layer = (name: string, inModes: number[], outModes: number[], activation: Activation): LayerSpec => {
    const base = { name, format, inFeatures: product(inModes), outFeatures: product(outModes), activation };
    if (format === 'dense') return base;
    return { ...base, inModes, outModes, ranks: formatRanks(format, inModes, outModes, maxRank) };
  };
  const layers = format === 'ttm'
    ? [layer('fc1', [7, 4, 7, 4], [4, 4, 8, 4], 'relu'), layer('fc2', [16, 32], [2, 5], 'none')]
    : [layer('fc1', [28, 28], [16, 32], 'relu'), layer('fc2', [32, 16], [10], 'none')];
  return { version: 1, inputFeatures: 784, classes: 10, layers };
}

const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

/** Throws a SpecError naming the field, the value and the fix; returns the spec typed. */
export function validateSpec(raw: unknown): ModelSpec {
  const fail = (field: string, value: unknown, fix: string): never => {
    throw new SpecError(`spec.${field} = ${JSON.stringify(value)}: ${fix}`);
  };
  if (typeof raw !== 'object' || raw === null) fail('', raw, 'a model spec must be a JSON object');
  const spec = raw as Record<string, unknown>;
  if (spec.version !== 1) fail('version', spec.version, 'only spec version 1 is supported');
  if (!isPosInt(spec.inputFeatures)) fail('inputFeatures', spec.inputFeatures, 'must be an integer >= 1');
  if (!isPosInt(spec.classes) || (spec.classes as number) > 256) fail('classes', spec.classes, 'must be an integer in 1..256');
  if (spec.inputNorm !== undefined) {
    const n = spec.inputNorm as Record<string, unknown>;
    if (typeof n !== 'object' || n === null || !Number.isFinite(n.mean) || !Number.isFinite(n.std) || !((n.std as number) > 0)) {
      fail('inputNorm', n, 'must be {"mean": finite number, "std": number > 0}');
    }
  }
  if (spec.inference !== undefined && spec.inference !== 'svi' && spec.inference !== 'map') fail('inference', spec.inference, 'must be "svi" or "map" (or absent)');
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) fail('layers', spec.layers, 'must be a non-empty array');
  const layers = spec.layers as Record<string, unknown>[];
  let features = spec.inputFeatures as number;
  const names = new Set<string>();
  layers.forEach((layer, i) => {
    const at = `layers[${i}]`;
    if (typeof layer !== 'object' || layer === null) fail(at, layer, 'each layer must be an object');
    if (typeof layer.name !== 'string' || !/^[A-Za-z_][\w]*$/.test(layer.name)) fail(`${at}.name`, layer.name, 'must be an identifier');
    if (names.has(layer.name as string)) fail(`${at}.name`, layer.name, 'layer names must be unique');
    names.add(layer.name as string);
    if (!FORMATS.includes(layer.format as LayerFormat)) fail(`${at}.format`, layer.format, `must be one of ${FORMATS.join(', ')}`);
    if (layer.inFeatures !== features) fail(`${at}.inFeatures`, layer.inFeatures, `must equal the previous layer's outFeatures (${features})`);
    if (!isPosInt(layer.outFeatures)) fail(`${at}.outFeatures`, layer.outFeatures, 'must be an integer >= 1');
    if (layer.activation !== 'relu' && layer.activation !== 'none') fail(`${at}.activation`, layer.activation, 'must be "relu" or "none"');
    if (formatOf(layer.format as LayerFormat).tensorized) validateModes(layer, at, fail);
    features = layer.outFeatures as number;
  });
  if (features !== spec.classes) fail(`layers[${layers.length - 1}].outFeatures`, features, `must equal classes (${spec.classes})`);
  return raw as ModelSpec;
}

type Fail = (field: string, value: unknown, fix: string) => never;

function validateModes(layer: Record<string, unknown>, at: string, fail: Fail): void {
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
