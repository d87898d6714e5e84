// f64 host reference of a btnn model graph (dense reconstruction of every linear layer), for
// gradient and forward checks of the core. Evaluates every layer kind.
import type { ModelSpec, LinearSpec } from '../../src/spec/types.js';
import { buildGraph } from '../../src/spec/graph.js';
import { layerTensors } from '../../src/model/layers.js';
import { layerToDense } from '../../src/model/reconstruct.js';

export type Params = Map<string, Float64Array>;

export function denseWeight(spec: ModelSpec, params: Params, layerIndex: number): Float64Array {
  const layer = spec.layers[layerIndex] as LinearSpec;
  if (layer.format === 'dense') return params.get(`${layer.name}.weight`)!;
  const factors = layerTensors(layer).filter((t) => t.role === 'factor').map((t) => params.get(t.name)!);
  return layerToDense(layer, factors);
}

/** Outputs [rows × width] of the loss input (logits) in f64; inputs by name (the first: `x`). */
export function referenceForward(spec: ModelSpec, params: Params, x: ArrayLike<number> | Record<string, ArrayLike<number>>, rows: number): Float64Array {
  const graph = buildGraph(spec);
  const vals = new Map<string, Float64Array>();
  const given = (typeof (x as ArrayLike<number>).length === 'number' ? { [spec.inputs[0].name]: x } : x) as Record<string, ArrayLike<number>>;
  for (const i of spec.inputs) vals.set(i.name, Float64Array.from(given[i.name]).subarray(0, rows * graph.values.get(i.name)!.width));
  spec.layers.forEach((layer, li) => {
    const ins = graph.inputsOf[li].map((n) => vals.get(n)!);
    const w = graph.inputsOf[li].map((n) => graph.values.get(n)!.width);
    const nOut = graph.values.get(layer.name)!.width;
    const y = new Float64Array(rows * nOut);
    if (layer.kind === 'linear') {
      const W = denseWeight(spec, params, li), bias = params.get(`${layer.name}.bias`)!;
      const nIn = layer.inFeatures, h = ins[0];
      for (let r = 0; r < rows; r++) for (let j = 0; j < nOut; j++) {
        let s = bias[j];
        for (let i = 0; i < nIn; i++) s += h[r * nIn + i] * W[i * nOut + j];
        y[r * nOut + j] = s;
      }
    } else if (layer.kind === 'activation') {
      const f = { relu: (v: number) => Math.max(0, v), sigmoid: (v: number) => 1 / (1 + Math.exp(-v)), tanh: Math.tanh, none: (v: number) => v }[layer.fn];
      for (let i = 0; i < y.length; i++) y[i] = f(ins[0][i]);
    } else if (layer.kind === 'concat') {
      for (let r = 0; r < rows; r++) {
        let at = 0;
        ins.forEach((v, j) => { for (let c = 0; c < w[j]; c++) y[r * nOut + at + c] = v[r * w[j] + c]; at += w[j]; });
      }
    } else if (layer.kind === 'interaction') {
      const d = w[0], k = ins.length;
      for (let r = 0; r < rows; r++) {
        let p = 0;
        for (let i = 1; i < k; i++) for (let j = 0; j < i; j++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += ins[i][r * d + c] * ins[j][r * d + c];
          y[r * nOut + p++] = s;
        }
      }
    } else if (layer.kind === 'embedding') {
      // Rows of the reconstructed table, pooled over the bag (sum, or mean).
      const E = denseWeight(spec, params, li), bag = w[0], m = layer.dim;
      for (let r = 0; r < rows; r++) for (let j = 0; j < bag; j++) {
        const id = ins[0][r * bag + j];
        for (let c = 0; c < m; c++) y[r * m + c] += E[id * m + c] / (layer.pool === 'mean' ? bag : 1);
      }
    } else {
      throw new Error(`reference: ${(layer as { kind: string }).kind} layers are not modelled`);
    }
    vals.set(layer.name, y);
  });
  return vals.get(graph.lossInput)!;
}

/** Mean loss in f64 (softmax cross-entropy on class ids; sigmoid BCE or MSE on f32 targets). */
export function referenceLoss(spec: ModelSpec, params: Params, x: ArrayLike<number> | Record<string, ArrayLike<number>>, labels: ArrayLike<number>, rows: number): number {
  const out = referenceForward(spec, params, x, rows);
  const C = out.length / rows;
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    if (spec.loss.kind === 'softmax-xent') {
      let mx = -Infinity;
      for (let j = 0; j < C; j++) mx = Math.max(mx, out[r * C + j]);
      let sum = 0;
      for (let j = 0; j < C; j++) sum += Math.exp(out[r * C + j] - mx);
      loss += Math.log(sum) - (out[r * C + labels[r]] - mx);
    } else if (spec.loss.kind === 'sigmoid-bce') {
      for (let j = 0; j < C; j++) { const z = out[r * C + j], t = labels[r * C + j]; loss += Math.max(z, 0) - z * t + Math.log1p(Math.exp(-Math.abs(z))); }
    } else {
      let s = 0;
      for (let j = 0; j < C; j++) s += (out[r * C + j] - labels[r * C + j]) ** 2;
      loss += s / C;
    }
  }
  return loss / rows;
}
