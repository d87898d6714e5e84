// `btnn experiment planted-rank`: does the rank prior find a rank we know? A 64×64 matrix is
// built from random factors at a true rank (every bond of the format at that rank), scaled to unit
// RMS, plus Gaussian noise (10 % by default), and fitted from the maximum rank with Adam at a
// constant lr (6000 full-batch steps) by the training machinery itself — the same Runtime,
// programs, Ard (EM update, KL gradients, SVI sampling) and physical pruning. The likelihood is
// the Gaussian one with the known noise, summed over entries, and the KL weight is 1: the exact
// posterior, no tempering. Inputs are the identity, so the layer's output is W itself; with
// `kind: 'embedding'` the matrix is a 64-row table of width 64 looked up at ids 0..63, so the
// output is the table.
import { loadCore, type Core } from '../core/wasm.js';
import { formatRanks, type LayerFormat } from '../spec/formats.js';
import type { EmbeddingSpec, Inference, LinearSpec, ModelSpec } from '../spec/types.js';
import { layerTensors } from '../model/layers.js';
import { layerToDense } from '../model/reconstruct.js';
import { Runtime, type Batch, type RowSource } from '../runtime/runtime.js';
import { initialise, initStd } from '../runtime/init.js';
import { Ard } from './ard.js';
import { decidePrune, snapshot, restore, sliceRankVar } from './prune.js';
import { DEFAULT_RANK_THRESHOLD, type Hyperprior, type RankThreshold } from '../bayes/prior.js';
import { product } from '../util/math.js';

export interface PlantedOptions {
  format: Exclude<LayerFormat, 'dense'>; trueRank: number; maxRank: number; seed: number;
  inference?: Inference; prior?: Hyperprior; steps?: number; lr?: number; noise?: number; threshold?: RankThreshold;
  /** The planted matrix as a linear layer's W (default) or as an embedding table. */
  kind?: 'linear' | 'embedding';
}

export interface PlantedResult {
  format: string; trueRank: number; maxRank: number; seed: number; inference: Inference;
  trueRanks: number[]; recoveredRanks: number[]; recovered: boolean; relativeError: number; noise: number; steps: number;
  /** Final rank variances relative to the largest of their group. */
  rankVarRelative: Record<string, number[]>;
}

/** Mode shapes of the 64×64 planted matrix: TTM pairs (4,4)³, the flat formats fold it as [8,8 | 8,8]. */
function shapeOf(format: LayerFormat): { inModes: number[]; outModes: number[] } {
  return format === 'ttm' ? { inModes: [4, 4, 4], outModes: [4, 4, 4] } : { inModes: [8, 8], outModes: [8, 8] };
}

function layerAt(format: LayerFormat, rank: number, kind: 'linear' | 'embedding' = 'linear'): LinearSpec | EmbeddingSpec {
  const { inModes, outModes } = shapeOf(format);
  const n = product(inModes), m = product(outModes), ranks = formatRanks(format, inModes, outModes, rank);
  return kind === 'embedding'
    ? { kind, name: 'w', input: 'ids', rows: n, dim: m, format, inFeatures: n, outFeatures: m, inModes, outModes, ranks }
    : { kind, name: 'w', format, inFeatures: n, outFeatures: m, inModes, outModes, ranks };
}

/** Deterministic N(0,1) draws for the target (host side, seeded; not the core's stream). */
function gaussian(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  const u = (): number => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return (s + 0.5) / 2 ** 32; };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

export async function plantedRank(o: PlantedOptions, core?: Core): Promise<PlantedResult> {
  const inference = o.inference ?? 'svi';
  const steps = o.steps ?? 6000, lr = o.lr ?? 1e-2, noiseRel = o.noise ?? 0.1;
  const kind = o.kind ?? 'linear';
  const truth = layerAt(o.format, o.trueRank, kind);
  const draw = gaussian(o.seed);
  const factors = layerTensors(truth).filter((t) => t.role === 'factor').map((t) => Float64Array.from({ length: product(t.shape) }, draw));
  const clean = layerToDense(truth, factors);
  const rms = Math.sqrt(clean.reduce((s, x) => s + x * x, 0) / clean.length);
  const noise = noiseRel * rms;
  const target = Float32Array.from(clean, (x) => x / rms + noiseRel * draw());
  const n = truth.inFeatures, m = truth.outFeatures;

  const c = core ?? await loadCore();
  // Squared error with the known noise precision: loss `mse` scaled so its gradient is
  // (y − target)·precision (mse's is (2/cols)(y − target)·gradScale).
  const input = kind === 'embedding' ? { name: 'ids', dtype: 'i32' as const, shape: [1] } : { name: 'x', dtype: 'f32' as const, shape: [n] };
  let spec: ModelSpec = { version: 2, inputs: [input], layers: [layerAt(o.format, o.maxRank, kind)], loss: { kind: 'mse' }, inference };
  let rt = new Runtime(c, spec, n, 'train');
  initialise(rt, o.seed);
  const prior = o.prior ?? { kind: 'log-uniform' };
  let ard = new Ard(rt, { prior, emStep: 1 });
  ard.initScales(0.01, () => initStd(spec.layers[0] as LinearSpec | EmbeddingSpec).std);
  ard.update(1);
  const precision = 1 / (noiseRel * noiseRel);
  const identity = (): Float32Array => { const x = new Float32Array(n * n); for (let i = 0; i < n; i++) x[i * n + i] = 1; return x; };
  const inputs: Record<string, RowSource> = kind === 'embedding' ? { ids: Int32Array.from({ length: n }, (_, i) => i) } : { x: identity() };
  const batch: Batch = { source: { inputs, target }, rows: n, gradScale: (precision * m) / 2 };
  const hook = (): void => { rt.hooks = { beforeStep: () => { ard.update(); ard.sample(); }, afterBackward: () => ard.priorGrads(1) }; };
  hook();
  for (let t = 1; t <= steps; t++) {
    rt.trainStep(batch, lr);
    if (t % 250 === 0 || t === steps) {
      const d = decidePrune(spec, ard, o.threshold ?? DEFAULT_RANK_THRESHOLD);
      if (!d.changed) continue;
      const snap = snapshot(rt, d.kept), rv = sliceRankVar(ard, d.kept);
      spec = d.spec;
      rt = new Runtime(c, spec, n, 'train', { lrScales: Object.fromEntries(rt.slots.map((x) => [x.name, x.lrScale])) });
      restore(rt, snap);
      ard = new Ard(rt, { prior, emStep: 1 }, rv);
      hook();
    }
  }
  ard.useMean();
  rt.inferStep(batch);
  const y = rt.outputs(n);
  let err = 0, ref = 0;
  for (let i = 0; i < n * m; i++) { const t = clean[i] / rms; err += (y[i] - t) ** 2; ref += t * t; }
  const recoveredRanks = (spec.layers[0] as LinearSpec | EmbeddingSpec).ranks!;
  return {
    format: o.format, trueRank: o.trueRank, maxRank: o.maxRank, seed: o.seed, inference,
    trueRanks: truth.ranks!, recoveredRanks, recovered: recoveredRanks.every((r, i) => r === truth.ranks![i]),
    relativeError: Math.sqrt(err / ref), noise, steps,
    rankVarRelative: Object.fromEntries(ard.groups.map((g, i) => {
      const v = Array.from(ard.rankVar[i]), mx = Math.max(...v);
      return [g.index, v.map((x) => Number((x / mx).toPrecision(3)))];
    })),
  };
}
