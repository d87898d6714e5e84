// Layer geometry: the tensors a weight-carrying layer owns (from its tensor network,
// src/formats/<format>.ts) and its parameter counts. Flops and buffer sizes depend on the contraction
// path; see src/tn/plan.ts.
import type { ModelSpec, TensorLayerSpec } from '../spec/types.js';
import { tensorLayers } from '../spec/types.js';
import type { LayerSpec } from '../spec/formats.js';
import { product } from '../util/math.js';
import { layerNetwork } from '../tn/network.js';
import { formatOf } from '../formats/index.js';

/** A trainable tensor: a factor of the layer's network, or its bias. */
export interface TensorShape { name: string; shape: number[]; role: 'factor' | 'bias' }

/** A linear layer adds a bias; an embedding table has none. v1-style layers (no kind) are linear. */
const hasBias = (layer: LayerSpec | TensorLayerSpec): boolean => (layer as { kind?: string }).kind !== 'embedding';

/** Trainable tensors of a layer, in storage order (the order of the model file and of `params`). */
export function layerTensors(layer: LayerSpec | TensorLayerSpec): TensorShape[] {
  const factors = layerNetwork(layer).factors.map((f): TensorShape => ({ name: `${layer.name}.${f.name}`, shape: f.shape, role: 'factor' }));
  return hasBias(layer) ? [...factors, { name: `${layer.name}.bias`, shape: [layer.outFeatures], role: 'bias' }] : factors;
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

/** The format's initialisation std and truncation (src/formats; METHOD.md §3.7, see src/train/init.ts). */
export function initStd(layer: LayerSpec | TensorLayerSpec): { std: number; bound: number } {
  return formatOf(layer.format).init(layer, layerNetwork(layer));
}

/**
 * Step-size multiplier of a tensor (dense layers and biases: 1). Adam moves every entry by about
 * lr per step whatever the gradient's scale, so a factor whose entries are s/σ_W ≈ 2–3× larger
 * than a dense W's (σ_W = sqrt(2/N_in)) learns that much slower in relative terms; and a W entry
 * is a product of T factors. The multiplier is (s/σ_W)·sqrt(T): the first factor makes --lr mean
 * the same relative step for dense and tensor layers, the sqrt(T) was chosen by measurement on TTM.
 * MNIST, default TTM model, seed 1, test accuracy: 1 epoch 94.0 % (no scaling) / 95.4 % (s/σ_W) /
 * 96.7 % (this, with cosine decay); 3 epochs with cosine decay 97.5 % (s/σ_W) / 98.0 % (this).
 * Embedding tables take 1 (src/formats/shared.ts tensorLrScale says why).
 */
export function lrScale(layer: LayerSpec | TensorLayerSpec, role: TensorShape['role']): number {
  return role === 'bias' ? 1 : formatOf(layer.format).lrScale(layer, layerNetwork(layer));
}
