// Initialisation (METHOD.md §3.7): every factor entry is i.i.d. truncated normal, with the std
// chosen so that an entry of the full W has He variance 2/N_in. For a TTM layer with d cores,
// Var(W entry) = (Π internal ranks)·s^{2d}, so s = σ_W^{1/d}·(Π_k r_k)^{-1/(2d)}, truncated at ±4s
// (the truncation lowers the variance by ~0.13 %). Dense weights: N(0, 2/N_in) truncated at ±3σ.
// Biases start at zero. All draws come from the core's seeded generator, in storage order.
import type { Runtime } from './runtime.js';
import { layerTensors, ttmGeometry } from '../model/layers.js';

export function initStd(layer: import('../model/spec.js').LayerSpec): { std: number; bound: number } {
  const sigmaW = Math.sqrt(2 / layer.inFeatures);
  if (layer.format === 'dense') return { std: sigmaW, bound: 3 };
  const { ranks } = ttmGeometry(layer);
  const d = ranks.length - 1;
  const rankProduct = ranks.reduce((p, r) => p * r, 1);
  return { std: Math.pow(sigmaW, 1 / d) * Math.pow(rankProduct, -1 / (2 * d)), bound: 4 };
}

export function initialise(rt: Runtime, seed: number): void {
  rt.seed(seed, 1);
  const e = rt.core.exports;
  for (const layer of rt.spec.layers) {
    const { std, bound } = initStd(layer);
    for (const t of layerTensors(layer)) {
      const view = rt.tensor(t.name);
      if (t.name.endsWith('.bias')) { view.fill(0); continue; }
      e.rngTruncNormalF32(rt.bufferAddr('rng'), view.byteOffset, view.length, std, bound);
    }
  }
}
