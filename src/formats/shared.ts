// Building blocks the format files share: the folding convention and index names, the network
// builder, rank caps of chains, the rank-group collector, the tensor-format initialisation, and
// the common rank checks. Nothing here knows a particular format.
//
// Folding convention (METHOD.md §1.1, the "clean" variant, not the reference's reshape quirk):
// W is [N_in × N_out] with y = x·W, N_in = Π inModes, N_out = Π outModes, and row/column indices
// are row-major mixed radix over the modes. Index names: input modes i0.., output modes o0..;
// each format names its rank indices. Indices of size 1 (boundary ranks) are left out of the
// network: they change no layout, only the storage shape.
import type { Factor, Fail, Governed, Network, RankGroup, TensorLayer } from './types.js';
import { product } from '../util/math.js';

export const sum = (xs: number[]): number => xs.reduce((s, x) => s + x, 0);
export const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

/** Mode sizes of a layer (one mode per side if it gives none) and its ranks. */
export function layerModes(layer: TensorLayer): { inModes: number[]; outModes: number[]; modes: number[]; ranks: number[] } {
  const inModes = layer.inModes ?? [layer.inFeatures];
  const outModes = layer.outModes ?? [layer.outFeatures];
  return { inModes, outModes, modes: [...inModes, ...outModes], ranks: layer.ranks ?? [] };
}

export interface NetworkBuilder {
  /** Input then output mode indices, all sizes. */
  inIndices: string[];
  outIndices: string[];
  /** [...inIndices, ...outIndices]. */
  modes: string[];
  dims: Record<string, number>;
  ranks: number[];
  /** A factor over `axes` (index, size) in storage order; records the sizes in dims. */
  factor(name: string, axes: [string, number][]): Factor;
  /** The network of these factors (external indices of size 1 left out). */
  network(factors: Factor[]): Network;
}

export function networkBuilder(layer: TensorLayer): NetworkBuilder {
  const { inModes, outModes, ranks } = layerModes(layer);
  const dims: Record<string, number> = {};
  const inModeOf: Record<string, number> = {};
  const inIndices = inModes.map((n, k) => { dims[`i${k}`] = n; inModeOf[`i${k}`] = k; return `i${k}`; });
  const outIndices = outModes.map((n, k) => { dims[`o${k}`] = n; return `o${k}`; });
  return {
    inIndices, outIndices, modes: [...inIndices, ...outIndices], dims, ranks,
    factor(name, axes) {
      for (const [ix, n] of axes) dims[ix] = n;
      return { name, shape: axes.map(([, n]) => n), indices: axes.filter(([, n]) => n > 1).map(([ix]) => ix), axes: axes.map(([ix]) => ix) };
    },
    network(factors) {
      return {
        dims,
        factors,
        inIndices: inIndices.filter((ix) => dims[ix] > 1),
        outIndices: outIndices.filter((ix) => dims[ix] > 1),
        inModeOf,
      };
    },
  };
}

/**
 * Internal indices (ranks) of the network, each counted once: an entry of W is a sum of
 * Π dims(internal) products of one entry per factor, which the initialisation uses.
 */
export function internalIndices(net: Network): string[] {
  const external = new Set([...net.inIndices, ...net.outIndices]);
  return [...new Set(net.factors.flatMap((f) => f.indices))].filter((ix) => !external.has(ix));
}

/**
 * Chain ranks r_0..r_d for mode sizes n (TT; TTM with n_k = a_k·b_k), capped by `maxRank` and by
 * the largest rank an unfolding allows (r_k ≤ Π_{l<k} n_l·r_0 and ≤ Π_{l≥k} n_l·r_0): higher ranks
 * add parameters that can never raise the layer's expressiveness. `ring` is r_0 = r_d (1 for a train).
 */
export function chainRanks(sizes: number[], maxRank: number, ring = 1): number[] {
  const d = sizes.length;
  const ranks = [ring];
  for (let k = 1; k < d; k++) ranks.push(Math.min(maxRank, ring * product(sizes.slice(0, k)), ring * product(sizes.slice(k))));
  ranks.push(ring);
  return ranks;
}

/** The ranks with position k set to kept.get(name(k)) wherever a count is given. */
export function respecByName(ranks: number[], kept: ReadonlyMap<string, number>, name: (k: number) => string): number[] {
  return ranks.map((r, k) => kept.get(name(k)) ?? r);
}

/** The common rank-count check: `want` positive integers, else the fix names `what`. */
export function checkRankCount(format: string, ranks: unknown, want: number, what: string, at: string, fail: Fail): number[] {
  if (!Array.isArray(ranks) || ranks.length !== want || !ranks.every(isPosInt)) {
    fail(`${at}.ranks`, ranks, `a ${format} layer needs ${what}, integers >= 1`);
  }
  return ranks as number[];
}

/** Collects the governed tensors of a layer's rank groups by index, in first-added order. */
export function groupCollector(layer: TensorLayer, net: Network): {
  governed(k: number, axis: number): Governed;
  whole(k: number): Governed;
  add(index: string, g: Governed): void;
  groups(): RankGroup[];
} {
  const full = (name: string): string => `${layer.name}.${name}`;
  const byIndex = new Map<string, Governed[]>();
  return {
    governed(k, axis) {
      const f = net.factors[k];
      return { tensor: full(f.name), axis, outer: product(f.shape.slice(0, axis)), slices: f.shape[axis], inner: product(f.shape.slice(axis + 1)) };
    },
    whole(k) {
      const f = net.factors[k];
      return { tensor: full(f.name), axis: -1, outer: 1, slices: 1, inner: product(f.shape) };
    },
    add(index, g) { byIndex.set(index, [...(byIndex.get(index) ?? []), g]); },
    groups() {
      return [...byIndex].map(([index, governs]) => ({
        layer: layer.name, index, size: governs[0].slices, governs,
        entriesPerSlice: governs.reduce((s, g) => s + g.outer * g.inner, 0),
      }));
    },
  };
}

/**
 * Groups of a chain (TT, TTM): bond k (1 ≤ k < d) governs core k−1 along its right bond; the last
 * bond also governs the last core along its left bond (the released code's right-bond form).
 */
export function chainGroups(layer: TensorLayer, net: Network): RankGroup[] {
  const c = groupCollector(layer, net);
  const last = net.factors.length - 1;
  net.factors.forEach((f, k) => { if (k < last) c.add(f.axes[f.axes.length - 1], c.governed(k, f.axes.length - 1)); });
  if (last > 0) c.add(net.factors[last].axes[0], c.governed(last, 0));
  return c.groups();
}

/**
 * Target std of one entry of the full weight (METHOD.md §3.7): He, sqrt(2/N_in), for a linear
 * layer; Glorot-like, sqrt(2/(V + m)) over the padded vocabulary V and width m, for an embedding
 * table. A lookup sums no rows, so a table's entries must not scale with 1/V alone: with He a
 * 3-row table started at 0.8 per entry and DLRM's 128-wide dot products at about ±9.
 */
export function targetStd(layer: TensorLayer): number {
  return layer.kind === 'embedding' ? Math.sqrt(2 / (layer.inFeatures + layer.outFeatures)) : Math.sqrt(2 / layer.inFeatures);
}

/**
 * Initialisation of a tensor format (METHOD.md §3.7): every factor entry i.i.d. truncated normal,
 * std chosen so that an entry of W has variance targetStd². An entry of W is a sum of
 * P = Π(internal rank dims) products of one entry from each of the T factors, so
 * Var(W entry) = P·s^{2T} and s = (σ_W²/P)^{1/(2T)}, truncated at ±4s.
 */
export function tensorInit(layer: TensorLayer, net: Network): { std: number; bound: number } {
  const sigmaW = targetStd(layer);
  const T = net.factors.length;
  const P = internalIndices(net).reduce((p, ix) => p * net.dims[ix], 1);
  return { std: Math.pow((sigmaW * sigmaW) / P, 1 / (2 * T)), bound: 4 };
}

/**
 * (s/σ)·sqrt(T): the step-size multiplier of a format's factors (see src/model/layers.ts), σ the
 * scale the layer's entries live at. For a linear layer that is its init, σ_W. A table starts
 * near zero (σ_W = 4.5·10⁻⁴ for 10⁷ rows) and the data sets the scale its rows grow to, so σ is
 * that of a unit-norm row, sqrt(1/m): with σ_W the multiplier of a 10⁷-row TTM would be about
 * 117 (an Adam step of 0.35 on entries of 0.03); with 1, planted embedding ranks were no longer
 * recovered (test/embedding-ard: TTM and CP 0/3 seeds).
 */
export function tensorLrScale(layer: TensorLayer, net: Network): number {
  const sigma = layer.kind === 'embedding' ? Math.sqrt(1 / layer.outFeatures) : targetStd(layer);
  return (tensorInit(layer, net).std / sigma) * Math.sqrt(net.factors.length);
}

/** The members every tensor format shares. */
export const tensorDefaults = {
  tensorized: true,
  defaultMaxRank: 20,
  pairsModes: false,
  order: (inModes: number[], outModes: number[]): number => inModes.length + outModes.length,
  validateModes: (): void => {},
  init: tensorInit,
  lrScale: tensorLrScale,
} as const;
