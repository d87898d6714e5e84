// Tucker: ranks = [R_0..R_{d-1}], core [R_0 × … × R_{d-1}] then factors U_k [n_k × R_k] over the
// modes n = [inModes..., outModes...]; rank index r<k> is mode k's.
// Prior: slice ρ of r_k governs column ρ of U_k. Unlike the reference code (METHOD §7 item 9, core
// unregularised) the core gets one variance of its own (group CORE_GROUP, a single slice, never
// pruned): with a free core, every factor column can hand its scale to the core, all λ shrink
// together and no slice ever stands out (measured on planted-rank fits: no Tucker rank recovered
// without it).
import type { Format } from './types.js';
import { checkRankCount, groupCollector, layerModes, networkBuilder, respecByName, sum, tensorDefaults } from './shared.js';
import { product } from '../util/math.js';

/** The Tucker core's own single-slice group: a variance, not a rank (pruning leaves it alone). */
export const CORE_GROUP = 'core';
const CORE = 'core';
const rank = (k: number): string => `r${k}`;

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

export const tucker: Format = {
  ...tensorDefaults,
  name: 'tucker',
  network(layer) {
    const b = networkBuilder(layer);
    const r = b.ranks;
    return b.network([
      b.factor(CORE, b.modes.map((_, k) => [rank(k), r[k]] as [string, number])),
      ...b.modes.map((m, k) => b.factor(`factor${k}`, [[m, b.dims[m]], [rank(k), r[k]]])),
    ]);
  },
  params(layer) {
    const { modes, ranks } = layerModes(layer);
    return product(ranks) + sum(modes.map((nk, k) => nk * ranks[k]));
  },
  ranks: (inModes, outModes, maxRank) => tuckerRanks([...inModes, ...outModes], maxRank),
  validateRanks(ranks, a, b, at, fail) {
    const d = a.length + b.length;
    checkRankCount('tucker', ranks, d, `${d} ranks, one per mode`, at, fail);
  },
  respecRanks: (ranks, kept) => respecByName(ranks, kept, rank),
  rankGroups(layer, net) {
    const c = groupCollector(layer, net);
    net.factors.forEach((f, k) => {
      if (f.name !== CORE) { c.add(f.axes[1], c.governed(k, 1)); return; }
      c.add(CORE_GROUP, c.whole(k));
    });
    return c.groups();
  },
};
