// Layer geometry: the tensors a weight-carrying layer owns (from its tensor network,
// src/formats/<format>.ts) and its parameter counts. Flops and buffer sizes depend on the contraction
// path; see src/tn/plan.ts.
import type { ModelSpec, TensorLayerSpec } from '../spec/types.js';
import { tensorLayers } from '../spec/types.js';
import type { LayerSpec } from './spec.js';
import { product } from '../util/math.js';
import { layerNetwork } from '../tn/network.js';

export interface TensorShape { name: string; shape: number[] }

/** A linear layer adds a bias; an embedding table has none. v1-style layers (no kind) are linear. */
const hasBias = (layer: LayerSpec | TensorLayerSpec): boolean => (layer as { kind?: string }).kind !== 'embedding';

/** Trainable tensors of a layer, in storage order (the order of the model file and of `params`). */
export function layerTensors(layer: LayerSpec | TensorLayerSpec): TensorShape[] {
  const factors = layerNetwork(layer).factors.map((f) => ({ name: `${layer.name}.${f.name}`, shape: f.shape }));
  return hasBias(layer) ? [...factors, { name: `${layer.name}.bias`, shape: [layer.outFeatures] }] : factors;
}

export function layerParams(layer: LayerSpec | TensorLayerSpec): number {
  return layerTensors(layer).reduce((n, t) => n + product(t.shape), 0);
}

export function modelParams(spec: ModelSpec): number {
  return tensorLayers(spec).reduce((n, l) => n + layerParams(l), 0);
}

/** The same network with every weight dense: the compression baseline (an embedding: rows × dim). */
export function denseParams(spec: ModelSpec): number {
  return tensorLayers(spec).reduce((n, l) => n + (l.kind === 'embedding' ? l.rows * l.dim : l.inFeatures * l.outFeatures + l.outFeatures), 0);
}

/** Every trainable tensor of the model, storage order. */
export const modelTensors = (spec: ModelSpec): TensorShape[] => tensorLayers(spec).flatMap(layerTensors);
