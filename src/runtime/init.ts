// Initialisation (METHOD.md §3.7): every factor entry is i.i.d. truncated normal, with the std
// chosen so that an entry of the full W has He variance 2/N_in. An entry of W is a sum of
// P = Π(internal rank dims) products of one entry from each of the T factors (src/formats/shared.ts),
// so Var(W entry) = P·s^{2T} and s = (σ_W²/P)^{1/(2T)}, truncated at ±4s (the truncation lowers the
// variance by ~0.13 %). Dense weights: N(0, 2/N_in) truncated at ±3σ. Biases start at zero. All
// draws come from the core's seeded generator, in storage order.
import type { Runtime } from './runtime.js';
import { tensorLayers } from '../spec/types.js';
import { layerTensors, initStd } from '../model/layers.js';

export { initStd, lrScale } from '../model/layers.js';

export function initialise(rt: Runtime, seed: number): void {
  rt.seed(seed, 1);
  const e = rt.core.exports;
  for (const layer of tensorLayers(rt.spec)) {
    const { std, bound } = initStd(layer);
    for (const t of layerTensors(layer)) {
      const view = rt.tensor(t.name);
      if (t.role === 'bias') { view.fill(0); continue; }
      e.rngTruncNormalF32(rt.bufferAddr('rng'), view.byteOffset, view.length, std, bound);
    }
  }
}
