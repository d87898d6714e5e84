// Tensor train: ranks = [r_0..r_d], r_0 = r_d = 1, cores [r_k × n_k × r_{k+1}] over the modes
// n = [inModes..., outModes...]; bond index r<k> sits between cores k−1 and k.
// Prior: the chain groups of shared.ts (bond k governs core k−1's right bond, the last bond also
// the last core's left bond).
import type { Format } from './types.js';
import { chainGroups, chainRanks, checkRankCount, layerModes, networkBuilder, respecByName, sum, tensorDefaults } from './shared.js';

const bond = (k: number): string => `r${k}`;

export const tt: Format = {
  ...tensorDefaults,
  name: 'tt',
  network(layer) {
    const b = networkBuilder(layer);
    const r = b.ranks;
    return b.network(b.modes.map((m, k) => b.factor(`core${k}`, [[bond(k), r[k]], [m, b.dims[m]], [bond(k + 1), r[k + 1]]])));
  },
  params(layer) {
    const { modes, ranks } = layerModes(layer);
    return sum(modes.map((nk, k) => ranks[k] * nk * ranks[k + 1]));
  },
  ranks: (inModes, outModes, maxRank) => chainRanks([...inModes, ...outModes], maxRank),
  validateRanks(ranks, a, b, at, fail) {
    const d = a.length + b.length;
    const r = checkRankCount('tt', ranks, d + 1, `${d + 1} ranks r_0..r_${d}`, at, fail);
    if (r[0] !== 1 || r[r.length - 1] !== 1) fail(`${at}.ranks`, r, 'the boundary ranks r_0 and r_d must be 1');
  },
  respecRanks: (ranks, kept) => respecByName(ranks, kept, bond),
  rankGroups: chainGroups,
};
