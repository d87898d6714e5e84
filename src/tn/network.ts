// Every layer format as a tensor network: named factors, each a row-major tensor over named
// indices. Contraction paths (path.ts) and programs (compile.ts) only ever see this form, so a
// format is defined here and nowhere else.
//
// Folding convention (METHOD.md §1.1, the "clean" variant, not the reference's reshape quirk):
// W is [N_in × N_out] with y = x·W, N_in = Π inModes, N_out = Π outModes, and row/column indices
// are row-major mixed radix over the modes.
//   - CP, Tucker, TT, TR ("flat" formats) fold W into one tensor of order d = d_in + d_out with
//     modes [inModes..., outModes...]; W = reshape(T, [N_in, N_out]) exactly, no transpose.
//   - TTM pairs input mode k with output mode k in core k.
// Index names: input modes i0.., output modes o0.., ranks r.. (CP has one rank index r shared by
// every factor). Indices of size 1 (boundary ranks) are left out of the network: they change no
// layout, only the storage shape.
import type { LayerSpec } from '../model/spec.js';
import { product } from '../util/math.js';

export interface Factor {
  /** Tensor name inside the layer (the model file prefixes the layer name). */
  name: string;
  /** Storage shape, row-major. */
  shape: number[];
  /** Network indices of the storage axes, size-1 axes omitted. */
  indices: string[];
  /** Index name of every storage axis (size-1 ones included): what rank pruning slices. */
  axes: string[];
}

export interface Network {
  dims: Record<string, number>;
  factors: Factor[];
  /** Indices of W's rows (input side) and columns (output side), in row-major order. */
  inIndices: string[];
  outIndices: string[];
}

/** The batch index of x and y. */
export const BATCH = 'b';

export function layerNetwork(layer: LayerSpec): Network {
  const inModes = layer.inModes ?? [layer.inFeatures];
  const outModes = layer.outModes ?? [layer.outFeatures];
  const dims: Record<string, number> = {};
  const inIndices = inModes.map((n, k) => { dims[`i${k}`] = n; return `i${k}`; });
  const outIndices = outModes.map((n, k) => { dims[`o${k}`] = n; return `o${k}`; });
  const modes = [...inIndices, ...outIndices];
  const r = layer.ranks ?? [];
  const factor = (name: string, axes: [string, number][]): Factor => {
    for (const [ix, n] of axes) dims[ix] = n;
    return { name, shape: axes.map(([, n]) => n), indices: axes.filter(([, n]) => n > 1).map(([ix]) => ix), axes: axes.map(([ix]) => ix) };
  };
  let factors: Factor[];
  switch (layer.format) {
    case 'dense':
      factors = [factor('weight', [[inIndices[0], layer.inFeatures], [outIndices[0], layer.outFeatures]])];
      break;
    case 'cp':
      factors = modes.map((m, k) => factor(`factor${k}`, [[m, dims[m]], ['r', r[0]]]));
      break;
    case 'tucker':
      factors = [
        factor('core', modes.map((_, k) => [`r${k}`, r[k]] as [string, number])),
        ...modes.map((m, k) => factor(`factor${k}`, [[m, dims[m]], [`r${k}`, r[k]]])),
      ];
      break;
    case 'tt':
    case 'tr': {
      const d = modes.length;
      // TR closes the ring: the last core's right bond is r0 again.
      const bond = (k: number): string => (layer.format === 'tr' && k === d ? 'r0' : `r${k}`);
      factors = modes.map((m, k) => factor(`core${k}`, [[bond(k), r[k]], [m, dims[m]], [bond(k + 1), r[k + 1]]]));
      break;
    }
    case 'ttm':
      factors = inIndices.map((ik, k) => factor(`core${k}`, [[`r${k}`, r[k]], [ik, dims[ik]], [outIndices[k], dims[outIndices[k]]], [`r${k + 1}`, r[k + 1]]]));
      break;
    default:
      throw new Error(`unknown format ${String(layer.format)}`);
  }
  return {
    dims,
    factors,
    inIndices: inIndices.filter((ix) => dims[ix] > 1),
    outIndices: outIndices.filter((ix) => dims[ix] > 1),
  };
}

/** Closed-form parameter count of a layer's weight (METHOD.md §1.2–1.6), bias excluded. */
export function formatParams(layer: LayerSpec): number {
  const a = layer.inModes ?? [layer.inFeatures];
  const b = layer.outModes ?? [layer.outFeatures];
  const n = [...a, ...b];
  const r = layer.ranks ?? [];
  const sum = (xs: number[]): number => xs.reduce((s, x) => s + x, 0);
  switch (layer.format) {
    case 'dense': return layer.inFeatures * layer.outFeatures;
    case 'cp': return r[0] * sum(n);
    case 'tucker': return product(r) + sum(n.map((nk, k) => nk * r[k]));
    case 'tt': case 'tr': return sum(n.map((nk, k) => r[k] * nk * r[k + 1]));
    case 'ttm': return sum(a.map((ak, k) => r[k] * ak * b[k] * r[k + 1]));
    default: throw new Error(`unknown format ${String(layer.format)}`);
  }
}

/**
 * Internal indices (ranks) of the network, each counted once: an entry of W is a sum of
 * Π dims(internal) products of one entry per factor, which init.ts uses for the entry variance.
 */
export function internalIndices(net: Network): string[] {
  const external = new Set([...net.inIndices, ...net.outIndices]);
  return [...new Set(net.factors.flatMap((f) => f.indices))].filter((ix) => !external.has(ix));
}
