// ModelSpec: the plain-JSON description of a network that a model file stores and the CLI builds.
// A layer is a linear map y = x·W + bias (W is [inFeatures × outFeatures]) stored either dense or
// as a tensor-train matrix (TTM) whose cores are [ranks[k] × inModes[k] × outModes[k] × ranks[k+1]].

import { product } from '../util/math.js';

export type LayerFormat = 'dense' | 'ttm';
export type Activation = 'relu' | 'none';

export interface LayerSpec {
  name: string;
  format: LayerFormat;
  inFeatures: number;
  outFeatures: number;
  activation: Activation;
  /** TTM only: input and output mode sizes (products equal the feature counts) and bond ranks r_0..r_d. */
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
  layers: LayerSpec[];
}

export class SpecError extends Error {
  constructor(message: string) { super(message); this.name = 'SpecError'; }
}


/**
 * TT ranks r_0..r_d for a TTM layer, capped by `maxRank` and by the largest rank the unfolding
 * allows (r_k ≤ Π_{l<k} a_l b_l and ≤ Π_{l≥k} a_l b_l): higher ranks add parameters that can
 * never raise the layer's expressiveness.
 */
export function ttmRanks(inModes: number[], outModes: number[], maxRank: number): number[] {
  const d = inModes.length;
  const sizes = inModes.map((a, k) => a * outModes[k]);
  const ranks = [1];
  for (let k = 1; k < d; k++) {
    ranks.push(Math.min(maxRank, product(sizes.slice(0, k)), product(sizes.slice(k))));
  }
  ranks.push(1);
  return ranks;
}

/** The default MNIST network of the README: 784-512-10, ReLU, both weights TTM (or dense). */
export function defaultSpec(format: LayerFormat, maxRank: number): ModelSpec {
  const ttm = (name: string, inModes: number[], outModes: number[], activation: Activation): LayerSpec => ({
    name, format: 'ttm', inFeatures: product(inModes), outFeatures: product(outModes), activation,
    inModes, outModes, ranks: ttmRanks(inModes, outModes, maxRank),
  });
  const dense = (name: string, inFeatures: number, outFeatures: number, activation: Activation): LayerSpec =>
    ({ name, format: 'dense', inFeatures, outFeatures, activation });
  const layers = format === 'ttm'
    ? [ttm('fc1', [7, 4, 7, 4], [4, 4, 8, 4], 'relu'), ttm('fc2', [16, 32], [2, 5], 'none')]
    : [dense('fc1', 784, 512, 'relu'), dense('fc2', 512, 10, 'none')];
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
    if (layer.format !== 'dense' && layer.format !== 'ttm') fail(`${at}.format`, layer.format, 'must be "dense" or "ttm"');
    if (layer.inFeatures !== features) fail(`${at}.inFeatures`, layer.inFeatures, `must equal the previous layer's outFeatures (${features})`);
    if (!isPosInt(layer.outFeatures)) fail(`${at}.outFeatures`, layer.outFeatures, 'must be an integer >= 1');
    if (layer.activation !== 'relu' && layer.activation !== 'none') fail(`${at}.activation`, layer.activation, 'must be "relu" or "none"');
    if (layer.format === 'ttm') {
      const { inModes, outModes, ranks } = layer;
      const isModes = (m: unknown): m is number[] => Array.isArray(m) && m.length >= 1 && m.every(isPosInt);
      if (!isModes(inModes)) fail(`${at}.inModes`, inModes, 'must be a non-empty array of integers >= 1');
      if (!isModes(outModes)) fail(`${at}.outModes`, outModes, 'must be a non-empty array of integers >= 1');
      const a = inModes as number[], b = outModes as number[];
      if (a.length !== b.length) fail(`${at}.outModes`, b, `must have as many modes as inModes (${a.length})`);
      if (product(a) !== layer.inFeatures) fail(`${at}.inModes`, a, `their product must equal inFeatures (${layer.inFeatures})`);
      if (product(b) !== layer.outFeatures) fail(`${at}.outModes`, b, `their product must equal outFeatures (${layer.outFeatures})`);
      if (!Array.isArray(ranks) || ranks.length !== a.length + 1 || !ranks.every(isPosInt)) {
        fail(`${at}.ranks`, ranks, `must be ${a.length + 1} integers >= 1 (r_0..r_d)`);
      }
      const r = ranks as number[];
      if (r[0] !== 1 || r[r.length - 1] !== 1) fail(`${at}.ranks`, r, 'the boundary ranks r_0 and r_d must be 1');
    }
    features = layer.outFeatures as number;
  });
  if (features !== spec.classes) fail(`layers[${layers.length - 1}].outFeatures`, features, `must equal classes (${spec.classes})`);
  return raw as ModelSpec;
}
