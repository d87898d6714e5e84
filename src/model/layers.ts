// Layer geometry: the tensors a layer owns (from its tensor network, src/formats/<format>.ts) and its
// parameter counts. Flops and buffer sizes depend on the contraction path; see src/tn/plan.ts.
import type { LayerSpec, ModelSpec } from './spec.js';
import { product } from '../util/math.js';
import { layerNetwork } from '../tn/network.js';

export interface TensorShape { name: string; shape: number[] }

/** Trainable tensors of a layer, in storage order (the order of the model file and of `params`). */
export function layerTensors(layer: LayerSpec): TensorShape[] {
  const factors = layerNetwork(layer).factors.map((f) => ({ name: `${layer.name}.${f.name}`, shape: f.shape }));
  return [...factors, { name: `${layer.name}.bias`, shape: [layer.outFeatures] }];
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
