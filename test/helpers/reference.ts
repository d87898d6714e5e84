// f64 host reference of a btnn network (dense reconstruction of every layer), for gradient and
// forward checks of the core.
import type { ModelSpec } from '../../src/model/spec.js';
import { layerTensors } from '../../src/model/layers.js';
import { layerToDense } from '../../src/model/reconstruct.js';

export type Params = Map<string, Float64Array>;

export function denseWeight(spec: ModelSpec, params: Params, layerIndex: number): Float64Array {
  const layer = spec.layers[layerIndex];
  if (layer.format === 'dense') return params.get(`${layer.name}.weight`)!;
  const factors = layerTensors(layer).filter((t) => !t.name.endsWith('.bias')).map((t) => params.get(t.name)!);
  return layerToDense(layer, factors);
}

/** Logits [rows × classes] of the network in f64. */
export function referenceForward(spec: ModelSpec, params: Params, x: ArrayLike<number>, rows: number): Float64Array {
  let h = Float64Array.from(x);
  spec.layers.forEach((layer, li) => {
    const W = denseWeight(spec, params, li), bias = params.get(`${layer.name}.bias`)!;
    const nIn = layer.inFeatures, nOut = layer.outFeatures;
    const y = new Float64Array(rows * nOut);
    for (let r = 0; r < rows; r++) for (let j = 0; j < nOut; j++) {
      let s = bias[j];
      for (let i = 0; i < nIn; i++) s += h[r * nIn + i] * W[i * nOut + j];
      y[r * nOut + j] = layer.activation === 'relu' ? Math.max(0, s) : s;
    }
    h = y;
  });
  return h;
}

/** Mean softmax cross-entropy in f64. */
export function referenceLoss(spec: ModelSpec, params: Params, x: ArrayLike<number>, labels: ArrayLike<number>, rows: number): number {
  const logits = referenceForward(spec, params, x, rows);
  const C = spec.classes;
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity;
    for (let j = 0; j < C; j++) mx = Math.max(mx, logits[r * C + j]);
    let sum = 0;
    for (let j = 0; j < C; j++) sum += Math.exp(logits[r * C + j] - mx);
    loss += Math.log(sum) - (logits[r * C + labels[r]] - mx);
  }
  return loss / rows;
}
