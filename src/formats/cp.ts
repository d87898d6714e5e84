// CP: ranks = [R], factors U_k [n_k × R] over the modes n = [inModes..., outModes...], every factor
// sharing the one rank index r. Prior: slice ρ of r governs column ρ of every factor.
import type { Format } from './types.js';
import { checkRankCount, groupCollector, layerModes, networkBuilder, sum, tensorDefaults } from './shared.js';

const RANK = 'r';

export const cp: Format = {
  ...tensorDefaults,
  name: 'cp',
  defaultMaxRank: 50,
  network(layer) {
    const b = networkBuilder(layer);
    return b.network(b.modes.map((m, k) => b.factor(`factor${k}`, [[m, b.dims[m]], [RANK, b.ranks[0]]])));
  },
  params(layer) {
    const { modes, ranks } = layerModes(layer);
    return ranks[0] * sum(modes);
  },
  ranks: (_inModes, _outModes, maxRank) => [maxRank],
  validateRanks(ranks, _a, _b, at, fail) {
    checkRankCount('cp', ranks, 1, '[R]', at, fail);
  },
  respecRanks: (ranks, kept) => ranks.map((r, k) => (k === 0 ? kept.get(RANK) ?? r : r)),
  rankGroups(layer, net) {
    const c = groupCollector(layer, net);
    net.factors.forEach((_, k) => c.add(RANK, c.governed(k, 1)));
    return c.groups();
  },
};
