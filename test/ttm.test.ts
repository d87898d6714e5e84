// TTM layer: forward equals x·W with W reconstructed from the cores; every layer's gradients equal
// central finite differences of an f64 reference loss; the flop model matches the shapes.
import t from 'tap';
import { loadCore } from '../src/core/wasm.js';
import { Runtime } from '../src/train/runtime.js';
import { ttmRanks, validateSpec, type ModelSpec, type LayerSpec } from '../src/model/spec.js';
import { layerTensors, ttmDescriptor, ttmStateFloats } from '../src/model/layers.js';
import { ttmToDense } from '../src/model/ttm-dense.js';
import { referenceLoss, type Params } from './helpers/reference.js';
import { F32_VS_F64_REL, GRAD_VS_FD_REL, GRAD_VS_FD_ABS } from './helpers/tolerances.js';

function ttmLayer(name: string, inModes: number[], outModes: number[], maxRank: number, activation: 'relu' | 'none' = 'relu'): LayerSpec {
  const prod = (xs: number[]): number => xs.reduce((p, x) => p * x, 1);
  return { name, format: 'ttm', inFeatures: prod(inModes), outFeatures: prod(outModes), activation, inModes, outModes, ranks: ttmRanks(inModes, outModes, maxRank) };
}

/** Deterministic pseudo-random fill (tests only; the product draws from the core's PCG32). */
function fillRandom(a: Float32Array, seed: number, scale = 1): void {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
}

const shapes: { inModes: number[]; outModes: number[]; maxRank: number; batch: number }[] = [
  { inModes: [5], outModes: [3], maxRank: 4, batch: 2 },
  { inModes: [2, 3], outModes: [3, 2], maxRank: 3, batch: 1 },
  { inModes: [3, 2, 4], outModes: [2, 5, 1], maxRank: 4, batch: 5 },
  { inModes: [7, 4, 7, 4], outModes: [4, 4, 8, 4], maxRank: 5, batch: 3 },
  { inModes: [2, 1, 3, 2], outModes: [1, 3, 2, 2], maxRank: 7, batch: 9 },
];

t.test('TTM forward equals x·W of the reconstructed matrix, for every flavour', async (t) => {
  for (const flavour of ['node', 'edge-scalar'] as const) {
    const core = await loadCore(flavour);
    for (const s of shapes) {
      const layer = ttmLayer('l', s.inModes, s.outModes, s.maxRank, 'none');
      const spec: ModelSpec = { version: 1, inputFeatures: layer.inFeatures, classes: layer.outFeatures, layers: [layer] };
      const rt = new Runtime(core, spec, s.batch, 'infer');
      const cores = layerTensors(layer).filter((x) => x.name.includes('.core')).map((x, k) => {
        const v = rt.tensor(x.name); fillRandom(v, 11 + k); return v;
      });
      const x = new Float32Array(s.batch * layer.inFeatures);
      fillRandom(x, 99);
      rt.loadBatch(x, null, s.batch);
      const out = rt.f32(rt.forward(s.batch), s.batch * layer.outFeatures);
      const W = ttmToDense(layer, cores);
      let worst = 0;
      for (let r = 0; r < s.batch; r++) for (let j = 0; j < layer.outFeatures; j++) {
        let ref = 0;
        for (let i = 0; i < layer.inFeatures; i++) ref += x[r * layer.inFeatures + i] * W[i * layer.outFeatures + j];
        worst = Math.max(worst, Math.abs(out[r * layer.outFeatures + j] - ref) / Math.max(1, Math.abs(ref)));
      }
      t.ok(worst <= F32_VS_F64_REL, `${flavour} a=[${s.inModes}] b=[${s.outModes}] ranks=[${layer.ranks}] B=${s.batch}: max rel err ${worst.toExponential(2)} ≤ ${F32_VS_F64_REL}`);
    }
  }
});

t.test('TTM ranks are capped by the unfolding sizes', async (t) => {
  t.same(ttmRanks([7, 4, 7, 4], [4, 4, 8, 4], 20), [1, 20, 20, 16, 1]);
  t.same(ttmRanks([16, 32], [2, 5], 20), [1, 20, 1]);
  t.same(ttmRanks([2, 3], [1, 1], 20), [1, 2, 1]);
  t.same(Array.from(ttmDescriptor(ttmLayer('l', [2, 3], [4, 5], 3))), [2, 2, 3, 4, 5, 1, 3, 1]);
  // Z_0 = xᵀ: a_0·(B·a_1)·r_0 = 2·6·1; Z_1: a_1·(B·b_0)·r_1 = 3·8·3
  t.same(ttmStateFloats(ttmLayer('l', [2, 3], [4, 5], 3), 2), [12, 72]);
});

t.test('gradients of every layer equal central finite differences (f64 reference)', async (t) => {
  const spec: ModelSpec = validateSpec({
    version: 1, inputFeatures: 12, classes: 5,
    layers: [
      ttmLayer('fc1', [2, 3, 2], [3, 2, 2], 3),
      ttmLayer('fc2', [3, 4], [2, 3], 3),
      { name: 'fc3', format: 'dense', inFeatures: 6, outFeatures: 5, activation: 'none' },
    ],
  });
  const rows = 7;
  const x = new Float32Array(rows * 12);
  fillRandom(x, 5);
  const labels = Uint8Array.from({ length: rows }, (_, i) => (i * 3) % 5);
  for (const flavour of ['node', 'edge-scalar'] as const) {
    const core = await loadCore(flavour);
    const rt = new Runtime(core, spec, 8, 'train');
    let seed = 1;
    for (const slot of rt.slots) fillRandom(rt.tensor(slot.name), seed++, slot.name.endsWith('.bias') ? 0.1 : 0.8);
    rt.loadBatch(x, labels, rows);
    rt.forward(rows);
    const { lossSum } = rt.loss(rows);
    rt.backward(rows);
    const params: Params = new Map(rt.slots.map((s) => [s.name, Float64Array.from(rt.tensor(s.name))]));
    const ref = referenceLoss(spec, params, x, labels, rows);
    t.ok(Math.abs(lossSum / rows - ref) <= 1e-5 * Math.max(1, ref), `${flavour}: loss ${lossSum / rows} equals f64 reference ${ref}`);
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
      t.ok(worst <= GRAD_VS_FD_REL, `${flavour} ${slot.name} (${p.length} entries): worst rel err ${worst.toExponential(2)} at [${worstAt}] ≤ ${GRAD_VS_FD_REL}`);
    }
  }
});
