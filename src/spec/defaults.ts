// The default MNIST network of the README: 784-512-10, ReLU, softmax cross-entropy. Mode shapes
// follow the reference setup (METHOD.md §1.9): TTM [7,4,7,4]→[4,4,8,4] and [16,32]→[2,5]; the flat
// formats fold fc1 as [28,28 | 16,32] and fc2 as [32,16 | 10].
import { defaultMaxRank, formatRanks } from './formats.js';
import { product } from '../util/math.js';
import { formatOf } from '../formats/index.js';
import type { LayerFormat, LinearSpec, ModelSpec } from './types.js';

/** A linear layer of a format over the given modes, ranks at `maxRank` with the format's caps. */
export function linearLayer(name: string, format: LayerFormat, inModes: number[], outModes: number[], maxRank: number, input?: string): LinearSpec {
  const base: LinearSpec = { kind: 'linear', name, ...(input ? { input } : {}), format, inFeatures: product(inModes), outFeatures: product(outModes) };
  if (!formatOf(format).tensorized) return base;
  return { ...base, inModes, outModes, ranks: formatRanks(format, inModes, outModes, maxRank) };
}

export function defaultSpec(format: LayerFormat, maxRank = defaultMaxRank(format)): ModelSpec {
  const [m1, m2] = format === 'ttm'
    ? [[[7, 4, 7, 4], [4, 4, 8, 4]], [[16, 32], [2, 5]]]
    : [[[28, 28], [16, 32]], [[32, 16], [10]]];
  return {
    version: 2,
    inputs: [{ name: 'x', dtype: 'f32', shape: [784] }],
    layers: [
      linearLayer('fc1', format, m1[0], m1[1], maxRank),
      { kind: 'activation', name: 'fc1_relu', fn: 'relu' },
      linearLayer('fc2', format, m2[0], m2[1], maxRank),
    ],
    loss: { kind: 'softmax-xent' },
  };
}
