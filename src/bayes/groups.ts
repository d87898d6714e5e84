// Rank groups of the low-rank prior (METHOD.md §2.2): one variance λ per rank slice, shared by
// every factor entry the slice governs. Which entries a slice governs, per format:
//   cp      slice ρ of the single rank index r: column ρ of every factor U_k
//   tucker  slice ρ of mode k's rank r_k: column ρ of factor U_k. Unlike the reference code
//           (METHOD §7 item 9, core unregularised) the core gets one variance of its own (group
//           `core`, a single slice, never pruned): with a free core, every factor column can
//           hand its scale to the core, all λ shrink together and no slice ever stands out
//           (measured on planted-rank fits: no Tucker rank recovered without it)
//   tt/ttm  bond k (1 ≤ k < d): core k−1 along its right bond; the last bond also governs the
//           last core along its left bond (the released code's right-bond form)
//   tr      bond k+1 (mod d, the ring bond is r0) governs core k along its right bond, so every
//           bond governs exactly one core and every core has exactly one prior
// A governed tensor is seen as [outer × slices × inner] around the governed axis, which is how
// the core's kernels (assembly/bayes.ts) index it.
import type { LayerSpec } from '../model/spec.js';
import { tensorLayers, type ModelSpec } from '../spec/types.js';
import { layerNetwork } from '../tn/network.js';
import { product } from '../util/math.js';

/** The Tucker core's own single-slice group: a variance, not a rank (pruning leaves it alone). */
export const CORE_GROUP = 'core';

export interface Governed { tensor: string; axis: number; outer: number; slices: number; inner: number }

export interface RankGroup {
  layer: string;
  /** The rank index this group's slices run over (the network's index name, e.g. r2). */
  index: string;
  size: number;
  governs: Governed[];
  /** D: entries governed by one slice. */
  entriesPerSlice: number;
}

export function layerRankGroups(layer: LayerSpec): RankGroup[] {
  if (layer.format === 'dense') return [];
  const net = layerNetwork(layer);
  const full = (name: string): string => `${layer.name}.${name}`;
  const governed = (k: number, axis: number): Governed => {
    const f = net.factors[k];
    return { tensor: full(f.name), axis, outer: product(f.shape.slice(0, axis)), slices: f.shape[axis], inner: product(f.shape.slice(axis + 1)) };
  };
  const byIndex = new Map<string, Governed[]>();
  const add = (index: string, g: Governed): void => { byIndex.set(index, [...(byIndex.get(index) ?? []), g]); };
  const last = net.factors.length - 1;
  switch (layer.format) {
    case 'cp':
      net.factors.forEach((_, k) => add('r', governed(k, 1)));
      break;
    case 'tucker':
      net.factors.forEach((f, k) => {
        if (f.name !== 'core') { add(f.axes[1], governed(k, 1)); return; }
        add(CORE_GROUP, { tensor: full(f.name), axis: -1, outer: 1, slices: 1, inner: product(f.shape) });
      });
      break;
    case 'tt': case 'ttm':
      net.factors.forEach((f, k) => { if (k < last) add(f.axes[f.axes.length - 1], governed(k, f.axes.length - 1)); });
      if (last > 0) add(net.factors[last].axes[0], governed(last, 0));
      break;
    case 'tr':
      net.factors.forEach((f, k) => add(f.axes[f.axes.length - 1], governed(k, f.axes.length - 1)));
      break;
  }
  return [...byIndex].map(([index, governs]) => ({
    layer: layer.name, index, size: governs[0].slices, governs,
    entriesPerSlice: governs.reduce((s, g) => s + g.outer * g.inner, 0),
  }));
}

export function rankGroups(spec: ModelSpec): RankGroup[] {
  return tensorLayers(spec).flatMap(layerRankGroups);
}

/** Names of the tensors that carry a prior (and, with SVI, a posterior scale ρ). */
export function governedTensors(spec: ModelSpec): Set<string> {
  return new Set(rankGroups(spec).flatMap((g) => g.governs.map((x) => x.tensor)));
}
