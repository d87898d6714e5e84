// Rank groups of the low-rank prior (METHOD.md §2.2): one variance λ per rank slice, shared by
// every factor entry the slice governs. Which entries a slice governs is the format's own
// (rankGroups in src/formats/<format>.ts: cp, tucker with its CORE_GROUP, tt/ttm chains, tr ring).
// A governed tensor is seen as [outer × slices × inner] around the governed axis, which is how
// the core's kernels (assembly/bayes.ts) index it.
import type { LayerSpec } from '../spec/formats.js';
import { tensorLayers, type ModelSpec } from '../spec/types.js';
import { layerNetwork } from '../tn/network.js';
import { formatOf, CORE_GROUP, type RankGroup } from '../formats/index.js';

/** The Tucker core's own single-slice group: a variance, not a rank (pruning leaves it alone). */
export { CORE_GROUP };
export type { Governed, RankGroup } from '../formats/index.js';

export function layerRankGroups(layer: LayerSpec): RankGroup[] {
  return formatOf(layer.format).rankGroups(layer, layerNetwork(layer));
}

export function rankGroups(spec: ModelSpec): RankGroup[] {
  return tensorLayers(spec).flatMap(layerRankGroups);
}

/** Names of the tensors that carry a prior (and, with SVI, a posterior scale ρ). */
export function governedTensors(spec: ModelSpec): Set<string> {
  return new Set(rankGroups(spec).flatMap((g) => g.governs.map((x) => x.tensor)));
}
