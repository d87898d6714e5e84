// Every tensor format as a linear layer, on both contraction paths: forward equals x·W of the f64
// reconstruction, gradients equal central finite differences of an f64 reference loss, the SIMD
// build gives the scalar build's bits, parameter counts equal the closed forms, and the planner's
// flop count equals what the core executed.
import t from 'tap';
import { loadCore } from '../src/core/wasm.js';
import { Runtime } from '../src/runtime/runtime.js';
import { formatRanks, type LayerSpec, type LayerFormat } from '../src/spec/formats.js';
import { validateSpec } from '../src/spec/validate.js';
import type { ModelSpec } from '../src/spec/types.js';
import { layerTensors } from '../src/model/layers.js';
import { formatParams } from '../src/tn/network.js';
import { layerToDense } from '../src/model/reconstruct.js';
import { referenceLoss, type Params } from './helpers/reference.js';
import { F32_VS_F64_REL, GRAD_VS_FD_REL, GRAD_VS_FD_ABS } from './helpers/tolerances.js';
import type { PathKind } from '../src/tn/plan.js';

const prod = (xs: number[]): number => xs.reduce((p, x) => p * x, 1);
const TENSOR_FORMATS: LayerFormat[] = ['cp', 'tucker', 'tt', 'ttm', 'tr'];
const PATHS: PathKind[] = ['direct', 'reconstruct'];

function layerOf(format: LayerFormat, name: string, inModes: number[], outModes: number[], maxRank: number, activation: 'relu' | 'none' = 'none'): LayerSpec {
  return {
    name, format, inFeatures: prod(inModes), outFeatures: prod(outModes), activation, inModes, outModes,
    ranks: formatRanks(format, inModes, outModes, maxRank),
  };
}

/** Deterministic pseudo-random fill (tests only; the product draws from the core's PCG32). */
function fillRandom(a: Float32Array, seed: number, scale = 1): void {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
}

// TTM needs as many input as output modes; the flat formats take any split.
const shapes: { inModes: number[]; outModes: number[]; maxRank: number; batch: number; ttmOnly?: boolean }[] = [
  { inModes: [5], outModes: [3], maxRank: 4, batch: 2 },
  { inModes: [2, 3], outModes: [3, 2], maxRank: 3, batch: 1 },
  { inModes: [3, 2, 4], outModes: [2, 5, 1], maxRank: 4, batch: 5 },
  { inModes: [7, 4, 7, 4], outModes: [2, 4, 2, 3], maxRank: 5, batch: 3, ttmOnly: true },
  { inModes: [2, 1, 3, 2], outModes: [1, 3, 2, 2], maxRank: 7, batch: 9 },
  { inModes: [6, 5], outModes: [4], maxRank: 3, batch: 4 },
];

t.test('forward equals x·W of the reconstructed matrix, every format, path and flavour', async (t) => {
  for (const flavour of ['node', 'edge-scalar'] as const) {
    const core = await loadCore(flavour);
    for (const format of TENSOR_FORMATS) {
      for (const s of shapes) {
        if (format === 'ttm' && s.inModes.length !== s.outModes.length) continue;
        if (s.ttmOnly && format !== 'ttm' && format !== 'tt') continue;
        const layer = layerOf(format, 'l', s.inModes, s.outModes, s.maxRank);
        const spec: ModelSpec = validateSpec({ version: 1, inputFeatures: layer.inFeatures, classes: layer.outFeatures, layers: [layer] });
        for (const path of PATHS) {
          const rt = new Runtime(core, spec, s.batch, 'infer', { path });
          const factors = layerTensors(layer).filter((x) => x.role === 'factor').map((x, k) => {
            const v = rt.tensor(x.name); fillRandom(v, 11 + k); return v;
          });
          const x = new Float32Array(s.batch * layer.inFeatures);
          fillRandom(x, 99);
          rt.inferStep({ source: { inputs: { x } }, rows: s.batch });
          const out = rt.outputs(s.batch);
          const W = layerToDense(layer, factors);
          let worst = 0;
          for (let r = 0; r < s.batch; r++) for (let j = 0; j < layer.outFeatures; j++) {
            let ref = 0;
            for (let i = 0; i < layer.inFeatures; i++) ref += x[r * layer.inFeatures + i] * W[i * layer.outFeatures + j];
            worst = Math.max(worst, Math.abs(out[r * layer.outFeatures + j] - ref) / Math.max(1, Math.abs(ref)));
          }
          t.ok(worst <= F32_VS_F64_REL, `${flavour} ${format} ${rt.layerPlans[0].chosen.kind} [${s.inModes}]→[${s.outModes}] ranks [${layer.ranks}] B=${s.batch}: max rel err ${worst.toExponential(2)}`);
        }
      }
    }
  }
});

t.test('parameter counts equal the closed forms of METHOD.md §1 and the reference shapes', async (t) => {
  for (const format of TENSOR_FORMATS) {
    for (const s of shapes) {
      if (format === 'ttm' && s.inModes.length !== s.outModes.length) continue;
      const layer = layerOf(format, 'l', s.inModes, s.outModes, s.maxRank);
      const stored = layerTensors(layer).filter((x) => x.role === 'factor').reduce((n, x) => n + prod(x.shape), 0);
      t.equal(stored, formatParams(layer), `${format} [${s.inModes}]→[${s.outModes}]: ${stored} stored = closed form`);
    }
  }
  // METHOD.md §1.9 at R=20 (CP R=50), where the rank caps do not bind.
  t.equal(formatParams(layerOf('cp', 'fc1', [28, 28], [16, 32], 50)), 5200);
  t.equal(formatParams(layerOf('tt', 'fc1', [28, 28], [16, 32], 20)), 18800);
  // §1.9's 24 880 for TTM has r_1 = 20; btnn caps it at a_0·b_0 = 16, which the unfolding allows.
  t.equal(formatParams({ ...layerOf('ttm', 'fc1', [4, 7, 4, 7], [4, 4, 8, 4], 20), ranks: [1, 20, 20, 20, 1] }), 24880);
  t.equal(formatParams(layerOf('ttm', 'fc1', [4, 7, 4, 7], [4, 4, 8, 4], 20)), 22576);
  t.equal(formatParams({ ...layerOf('tucker', 'fc1', [28, 28], [16, 32], 20), ranks: [20, 20, 20, 20] }), 162080);
  t.equal(formatParams(layerOf('tucker', 'fc1', [28, 28], [16, 32], 20)), 20 * 20 * 16 * 20 + 28 * 20 * 2 + 16 * 16 + 32 * 20);
  t.equal(formatParams(layerOf('cp', 'fc2', [32, 16], [10], 50)), 2900);
  t.equal(formatParams(layerOf('ttm', 'fc2', [16, 32], [2, 5], 20)), 3840);
  // Tucker ranks are capped by their modes (16, 10): 20·16·10 + 32·20 + 16·16 + 10·10, not §1.9's 9 160.
  t.equal(formatParams(layerOf('tucker', 'fc2', [32, 16], [10], 20)), 4196);
  t.same(formatRanks('tr', [28, 28], [16, 32], 20), [16, 20, 20, 20, 16]);
});

t.test('gradients of every format and path equal central finite differences (f64 reference)', async (t) => {
  const rows = 5;
  const x = new Float32Array(rows * 12);
  fillRandom(x, 5);
  const labels = Uint8Array.from({ length: rows }, (_, i) => (i * 3) % 5);
  for (const format of TENSOR_FORMATS) {
    const spec: ModelSpec = validateSpec({
      version: 1, inputFeatures: 12, classes: 5,
      layers: [
        layerOf(format, 'fc1', [2, 3, 2], [3, 2, 2], 3, 'relu'),
        layerOf(format, 'fc2', [3, 4], [2, 3], 3, 'relu'),
        { name: 'fc3', format: 'dense', inFeatures: 6, outFeatures: 5, activation: 'none' },
      ],
    });
    // 4 lanes: the reconstruction is rebuilt and differentiated in chunks of W's leading rows.
    for (const [path, lanes] of [['direct', 1], ['reconstruct', 1], ['reconstruct', 4]] as const) {
      const flavour = path === 'direct' ? 'node' : 'edge-scalar';
      const core = await loadCore(flavour);
      // 6 rows of capacity for 5 rows of data: the padding row must add nothing.
      const rt = new Runtime(core, spec, 6, 'train', { path, lanes });
      if (lanes > 1 && format !== 'tr') t.ok(rt.prepared.programs.finish.length > 2, `${format}: the reconstruction runs in chunks (${rt.prepared.programs.finish.length} finish jobs)`);
      let seed = 1;
      for (const slot of rt.slots) fillRandom(rt.tensor(slot.name), seed++, slot.name.endsWith('.bias') ? 0.1 : 0.8);
      const { lossSum } = rt.trainStep({ source: { inputs: { x }, target: labels }, rows });
      const params: Params = new Map(rt.slots.map((s) => [s.name, Float64Array.from(rt.tensor(s.name))]));
      const ref = referenceLoss(spec, params, x, labels, rows);
      t.ok(Math.abs(lossSum / rows - ref) <= 1e-5 * Math.max(1, ref), `${format} ${path} ${lanes} lane(s): loss ${lossSum / rows} equals f64 reference ${ref}`);
      const h = 1e-6;
      for (const slot of rt.slots) {
        const p = params.get(slot.name)!;
        const grad = rt.gradient(slot.name);
        let worst = 0, worstAt = -1;
        for (let i = 0; i < p.length; i++) {
          const keep = p[i];
          p[i] = keep + h; const up = referenceLoss(spec, params, x, labels, rows);
          p[i] = keep - h; const down = referenceLoss(spec, params, x, labels, rows);
          p[i] = keep;
          const fd = (up - down) / (2 * h);
          const err = Math.abs(grad[i] - fd) / Math.max(GRAD_VS_FD_ABS / GRAD_VS_FD_REL, Math.abs(fd));
          if (err > worst) { worst = err; worstAt = i; }
        }
        t.ok(worst <= GRAD_VS_FD_REL, `${format} ${path} ${lanes} lane(s) ${flavour} ${slot.name} (${p.length}): worst rel err ${worst.toExponential(2)} at [${worstAt}]`);
      }
    }
  }
});

t.test('SIMD build equals the scalar build bit for bit; planned flops equal executed flops', async (t) => {
  const simd = await loadCore('node'), scalar = await loadCore('edge-scalar');
  for (const format of TENSOR_FORMATS) {
    const spec: ModelSpec = validateSpec({
      version: 1, inputFeatures: 84, classes: 10,
      layers: [layerOf(format, 'fc1', [7, 12], [4, 8], 6, 'relu'), layerOf(format, 'fc2', [4, 8], [5, 2], 5)],
    });
    const rows = 13;
    const x = new Float32Array(rows * 84);
    fillRandom(x, 3);
    const labels = Uint8Array.from({ length: rows }, (_, i) => i % 10);
    for (const path of PATHS) {
      const grads: Float32Array[] = [];
      for (const core of [simd, scalar]) {
        const rt = new Runtime(core, spec, rows, 'train', { path });
        let seed = 7;
        for (const slot of rt.slots) fillRandom(rt.tensor(slot.name), seed++, 0.5);
        core.exports.tnResetFlops();
        rt.trainStep({ source: { inputs: { x }, target: labels }, rows });
        const planned = rt.layerPlans.reduce((s, p) => s + p.chosen.forwardFlops + p.chosen.backwardFlops, 0);
        if (core === simd) t.equal(core.exports.tnFlops(), planned, `${format} ${path}: core executed the ${planned} flops the planner counted`);
        grads.push(rt.f32(rt.bufferAddr('grads'), rt.paramFloats).slice());
      }
      t.ok(Buffer.from(grads[0].buffer).equals(Buffer.from(grads[1].buffer)), `${format} ${path}: node and edge-scalar gradients are bit-identical`);
    }
  }
});
