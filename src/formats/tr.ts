// Tensor ring: a TT whose end bonds are joined. ranks = [r_0..r_d], r_0 = r_d (the ring's closing
// bond), cores [r_k × n_k × r_{k+1}] as TT; the last core's right bond is index r0 again, so the
// stored rank position d is the same index as position 0.
// Prior: bond k+1 (mod d, the ring bond is r0) governs core k along its right bond, so every bond
// governs exactly one core and every core has exactly one prior.
import type { Format } from './types.js';
import { chainRanks, checkRankCount, groupCollector, layerModes, networkBuilder, respecByName, sum, tensorDefaults } from './shared.js';

/** Bond index of rank position k of a ring of d cores: position d closes the ring on r0. */
const bond = (d: number) => (k: number): string => (k === d ? 'r0' : `r${k}`);

export const tr: Format = {
  ...tensorDefaults,
  name: 'tr',
  network(layer) {
    const b = networkBuilder(layer);
    const r = b.ranks;
    const at = bond(b.modes.length);
    return b.network(b.modes.map((m, k) => b.factor(`core${k}`, [[at(k), r[k]], [m, b.dims[m]], [at(k + 1), r[k + 1]]])));
  },
  params(layer) {
    const { modes, ranks } = layerModes(layer);
    return sum(modes.map((nk, k) => ranks[k] * nk * ranks[k + 1]));
  },
  ranks(inModes, outModes, maxRank) {
    const n = [...inModes, ...outModes];
    return chainRanks(n, maxRank, Math.min(maxRank, ...n.filter((x) => x > 1), maxRank));
  },
  validateRanks(ranks, a, b, at, fail) {
    const d = a.length + b.length;
    const r = checkRankCount('tr', ranks, d + 1, `${d + 1} ranks r_0..r_${d}`, at, fail);
    if (r[0] !== r[r.length - 1]) fail(`${at}.ranks`, r, 'a tensor ring closes on itself: r_0 must equal r_d');
  },
  // Positions 0 and d are both the ring bond r0: a cut of r0 sets both.
  respecRanks: (ranks, kept) => respecByName(ranks, kept, bond(ranks.length - 1)),
  rankGroups(layer, net) {
    const c = groupCollector(layer, net);
    net.factors.forEach((f, k) => c.add(f.axes[f.axes.length - 1], c.governed(k, f.axes.length - 1)));
    return c.groups();
  },
};
