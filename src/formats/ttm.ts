// TT-matrix: input mode k pairs with output mode k in core k. ranks = [r_0..r_d], r_0 = r_d = 1,
// cores [r_k × a_k × b_k × r_{k+1}] with (a_k, b_k) = (inModes[k], outModes[k]); d = the number
// of mode pairs. Prior: the chain groups of shared.ts.
import type { Format } from './types.js';
import { chainGroups, chainRanks, checkRankCount, layerModes, networkBuilder, respecByName, sum, tensorDefaults } from './shared.js';

const bond = (k: number): string => `r${k}`;

export function ttmRanks(inModes: number[], outModes: number[], maxRank: number): number[] {
  return chainRanks(inModes.map((a, k) => a * outModes[k]), maxRank);
}

export const ttm: Format = {
  ...tensorDefaults,
  name: 'ttm',
  pairsModes: true,
  network(layer) {
    const b = networkBuilder(layer);
    const r = b.ranks;
    const o = b.outIndices;
    return b.network(b.inIndices.map((ik, k) => b.factor(`core${k}`, [[bond(k), r[k]], [ik, b.dims[ik]], [o[k], b.dims[o[k]]], [bond(k + 1), r[k + 1]]])));
  },
  params(layer) {
    const { inModes: a, outModes: b, ranks: r } = layerModes(layer);
    return sum(a.map((ak, k) => r[k] * ak * b[k] * r[k + 1]));
  },
  ranks: ttmRanks,
  order: (inModes) => inModes.length,
  validateModes(a, b, at, fail) {
    if (a.length !== b.length) fail(`${at}.outModes`, b, `a TTM layer needs as many output as input modes (${a.length})`);
  },
  validateRanks(ranks, a, _b, at, fail) {
    const d = a.length;
    const r = checkRankCount('ttm', ranks, d + 1, `${d + 1} ranks r_0..r_${d}`, at, fail);
    if (r[0] !== 1 || r[r.length - 1] !== 1) fail(`${at}.ranks`, r, 'the boundary ranks r_0 and r_d must be 1');
  },
  respecRanks: (ranks, kept) => respecByName(ranks, kept, bond),
  rankGroups: chainGroups,
};
