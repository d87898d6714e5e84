// Layer geometry: the tensors a layer owns, its parameter and flop counts, and the float counts of
// the buffers its kernels need. The TTM sizes mirror assembly/ttm.ts (state k holds
// a_k·R_k·r_k floats, rounded up to 4), which the runtime tests check against the core.
import type { LayerSpec, ModelSpec } from './spec.js';
import { product } from '../util/math.js';

export interface TensorShape { name: string; shape: number[] }

const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;

/** Trainable tensors of a layer, in storage order (the order of the model file and of `params`). */
export function layerTensors(layer: LayerSpec): TensorShape[] {
  const bias = { name: `${layer.name}.bias`, shape: [layer.outFeatures] };
  if (layer.format === 'dense') {
    return [{ name: `${layer.name}.weight`, shape: [layer.inFeatures, layer.outFeatures] }, bias];
  }
  const { inModes: a, outModes: b, ranks: r } = ttmGeometry(layer);
  const cores = a.map((_, k) => ({ name: `${layer.name}.core${k}`, shape: [r[k], a[k], b[k], r[k + 1]] }));
  return [...cores, bias];
}

export function ttmGeometry(layer: LayerSpec): { inModes: number[]; outModes: number[]; ranks: number[] } {
  if (layer.format !== 'ttm' || !layer.inModes || !layer.outModes || !layer.ranks) {
    throw new Error(`layer ${layer.name} is not a TTM layer with modes and ranks`);
  }
  return { inModes: layer.inModes, outModes: layer.outModes, ranks: layer.ranks };
}

export function layerParams(layer: LayerSpec): number {
  return layerTensors(layer).reduce((n, t) => n + product(t.shape), 0);
}

export function modelParams(spec: ModelSpec): number {
  return spec.layers.reduce((n, l) => n + layerParams(l), 0);
}

/** The same network with every weight dense: the compression baseline. */
export function denseParams(spec: ModelSpec): number {
  return spec.layers.reduce((n, l) => n + l.inFeatures * l.outFeatures + l.outFeatures, 0);
}

/** R_k of assembly/ttm.ts: the GEMM row count of core step k for a batch. */
export function ttmStepRows(layer: LayerSpec, k: number, batch: number): number {
  const { inModes: a, outModes: b } = ttmGeometry(layer);
  return batch * product(a.slice(k + 1)) * product(b.slice(0, k));
}

/** Floats of each saved state Z_0..Z_{d-1} (Z_0 is the transposed input). */
export function ttmStateFloats(layer: LayerSpec, batch: number): number[] {
  const { inModes: a, ranks: r } = ttmGeometry(layer);
  return a.map((ak, k) => roundUp4(ak * ttmStepRows(layer, k, batch) * r[k]));
}

/** Floats of the backward workspace: one transposed core slice, then two state-sized buffers. */
export function ttmWorkspaceFloats(layer: LayerSpec, batch: number): number {
  const { outModes: b, ranks: r } = ttmGeometry(layer);
  const pack = Math.max(...b.map((bk, k) => roundUp4(bk * r[k + 1] * r[k])));
  return pack + 2 * Math.max(...ttmStateFloats(layer, batch));
}

/** The i32 descriptor the TTM kernels read: [d, a_0..a_{d-1}, b_0..b_{d-1}, r_0..r_d]. */
export function ttmDescriptor(layer: LayerSpec): Int32Array {
  const { inModes, outModes, ranks } = ttmGeometry(layer);
  return Int32Array.from([inModes.length, ...inModes, ...outModes, ...ranks]);
}

/** Flops per sample of each TTM core step (2 per multiply-add). */
function ttmStepFlops(layer: LayerSpec): number[] {
  const { inModes: a, outModes: b, ranks: r } = ttmGeometry(layer);
  return a.map((_, k) => 2 * ttmStepRows(layer, k, 1) * a[k] * r[k] * b[k] * r[k + 1]);
}

/** Flops per sample of the forward pass (2 per multiply-add), bias and activation excluded. */
export function layerForwardFlops(layer: LayerSpec): number {
  if (layer.format === 'dense') return 2 * layer.inFeatures * layer.outFeatures;
  return ttmStepFlops(layer).reduce((s, f) => s + f, 0);
}

/**
 * Backward flops per sample: every weight gradient costs one forward step; the input gradient
 * costs another, and is skipped for the first layer (step 0 of a TTM, all of a dense layer).
 */
export function layerBackwardFlops(layer: LayerSpec, needInputGrad: boolean): number {
  if (layer.format === 'dense') return (needInputGrad ? 2 : 1) * layerForwardFlops(layer);
  const steps = ttmStepFlops(layer);
  return steps.reduce((s, f, k) => s + f + (k > 0 || needInputGrad ? f : 0), 0);
}
