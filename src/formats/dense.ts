// Dense: W itself, one [N_in × N_out] factor `weight`. No modes, no ranks, no prior; initialised
// N(0, targetStd²) truncated at ±3σ (He for a linear layer, Glorot-like for a table), trained at
// the plain learning rate.
import type { Format } from './types.js';
import { networkBuilder, targetStd } from './shared.js';

export const dense: Format = {
  name: 'dense',
  tensorized: false,
  defaultMaxRank: 20,
  pairsModes: false,
  network(layer) {
    const b = networkBuilder(layer);
    return b.network([b.factor('weight', [[b.inIndices[0], layer.inFeatures], [b.outIndices[0], layer.outFeatures]])]);
  },
  params: (layer) => layer.inFeatures * layer.outFeatures,
  ranks: () => undefined,
  order: () => 2,
  validateModes: () => {},
  validateRanks(ranks, _a, _b, at, fail) {
    if (ranks !== undefined) fail(`${at}.ranks`, ranks, 'a dense layer has no ranks; leave ranks out');
  },
  respecRanks: (ranks) => ranks,
  rankGroups: () => [],
  init: (layer) => ({ std: targetStd(layer), bound: 3 }),
  lrScale: () => 1,
};
