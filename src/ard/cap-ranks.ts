// A trained model truncated to max rank R: every rank index larger than R keeps its R strongest
// slices — by the learned rank variance λ where the model has one (ARD), else by the slices'
// energy (sum of squares over every tensor the rank runs through) — and the factors are sliced
// physically, as pruning does. `simulate --fit --max-drop` evaluates such models.
import type { LoadedModel } from '../model/file.js';
import { tensorLayers } from '../spec/types.js';
import { rankGroups } from '../bayes/groups.js';
import { layerNetwork } from '../tn/network.js';
import { layerTensors } from '../model/layers.js';
import { respec, sliceTensor, type Kept } from './prune.js';

export function capRanks(model: LoadedModel, maxRank: number): LoadedModel {
  const { inference: _posterior, ...spec } = model.spec;
  const kept: Kept = new Map();
  for (const g of rankGroups(model.spec)) {
    if (g.size <= maxRank) continue;
    const score = new Float64Array(g.size);
    const lambda = model.tensors.get(`${g.layer}.rankVar.${g.index}`);
    if (lambda) score.set(lambda.data);
    else {
      for (const gov of g.governs) {
        const x = model.tensors.get(gov.tensor)!.data;
        for (let o = 0; o < gov.outer; o++) for (let s = 0; s < gov.slices; s++) for (let i = 0; i < gov.inner; i++) {
          const v = x[(o * gov.slices + s) * gov.inner + i];
          score[s] += v * v;
        }
      }
    }
    const top = Array.from(score.keys()).sort((a, b) => score[b] - score[a] || a - b).slice(0, maxRank).sort((a, b) => a - b);
    if (!kept.has(g.layer)) kept.set(g.layer, new Map());
    kept.get(g.layer)!.set(g.index, top);
  }
  const capped = respec(spec, kept);
  const tensors = new Map(model.tensors);
  for (const key of [...tensors.keys()]) if (!tensorLayers(capped).some((l) => layerTensors(l).some((t) => t.name === key))) tensors.delete(key);
  for (const layer of tensorLayers(model.spec)) {
    const keep = kept.get(layer.name);
    if (!keep) continue;
    for (const f of layerNetwork(layer).factors) {
      const name = `${layer.name}.${f.name}`;
      const data = sliceTensor(model.tensors.get(name)!.data, f.shape, f.axes, keep);
      const shape = f.shape.map((n, j) => keep.get(f.axes[j])?.length ?? n);
      tensors.set(name, { name, shape, data });
    }
  }
  return { spec: capped, tensors, metadata: model.metadata };
}
