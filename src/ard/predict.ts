// Prediction with a trained model: the posterior mean, or (SVI) the average of K posterior draws'
// class probabilities (METHOD §3.1), scored by accuracy, NLL and expected calibration error.
import type { Core } from '../core/wasm.js';
import { targetArray, type Dataset } from '../data/dataset.js';
import type { DataSource } from '../runtime/runtime.js';
import type { LoadedModel } from '../model/file.js';
import { Runtime } from '../runtime/runtime.js';
import { buildGraph } from '../spec/graph.js';
import { governedTensors } from '../bayes/groups.js';
import { classificationMetrics } from '../bayes/prior.js';

export interface SampledResult { accuracy: number; nll: number; ece: number; samples: number }

/** K = 1 (or a MAP / plain model): the posterior mean. Draws come from PCG32 stream (seed, 9). */
/** `source` holds the test rows as the model reads them (src/train/data.ts dataSource). */
export function evaluateSamples(core: Core, model: LoadedModel, test: Dataset, source: DataSource, samples: number, batch: number, seed = 1): SampledResult {
  const { spec } = model;
  const rt = new Runtime(core, spec, batch, 'infer');
  for (const s of rt.slots) rt.tensor(s.name).set(model.tensors.get(s.name)!.data);
  const svi = spec.inference === 'svi';
  const governed = governedTensors(spec);
  if (svi) for (const t of governed) rt.slotView('rho', t).set(model.tensors.get(`${t}.rho`)!.data);
  const draws = svi ? samples : 1;
  const graph = buildGraph(spec);
  const C = graph.values.get(graph.lossInput)!.width;
  const probs = new Float64Array(test.count * C);
  rt.seed(seed, 9);
  const e = core.exports;
  for (let k = 0; k < draws; k++) {
    if (svi) {
      // Only governed tensors are read from `weights`; the rest are read as μ.
      for (const s of rt.slots) {
        if (!governed.has(s.name)) continue;
        const w = rt.slotView('weights', s.name);
        if (draws > 1) {
          e.sampleWeightsF32(w.byteOffset, rt.slotView('eps', s.name).byteOffset, rt.tensor(s.name).byteOffset, rt.slotView('rho', s.name).byteOffset, rt.bufferAddr('rng'), s.floats);
        } else {
          w.set(rt.tensor(s.name));
        }
      }
    }
    for (let start = 0; start < test.count; start += batch) {
      const rows = Math.min(batch, test.count - start);
      // W (reconstruct paths) is rebuilt once per draw, then serves every batch.
      rt.inferStep({ source, rows, row: (r) => start + r }, { prep: start === 0 });
      const logits = rt.outputs(rows);
      for (let r = 0; r < rows; r++) {
        let mx = -Infinity;
        for (let c = 0; c < C; c++) mx = Math.max(mx, logits[r * C + c]);
        let z = 0;
        for (let c = 0; c < C; c++) z += Math.exp(logits[r * C + c] - mx);
        for (let c = 0; c < C; c++) probs[(start + r) * C + c] += Math.exp(logits[r * C + c] - mx) / z / draws;
      }
    }
  }
  return { ...classificationMetrics(probs, targetArray(test.target), C, 15), samples: draws };
}
