// The default model at full size (rank 20, every cache-blocking path of the GEMM in play):
// forward equals the f64 reference, and gradients of sampled entries of every tensor equal
// central finite differences.
import t from 'tap';
import { loadCore } from '../src/core/wasm.js';
import { Runtime } from '../src/runtime/runtime.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { initialise } from '../src/runtime/init.js';
import { loadMnist } from '../src/data/mnist.js';
import { referenceLoss, referenceForward, type Params } from './helpers/reference.js';
import { F32_VS_F64_REL, GRAD_VS_FD_REL, GRAD_VS_FD_ABS } from './helpers/tolerances.js';

t.test('default TTM model: forward and sampled gradients match the f64 reference', { timeout: 180_000 }, async (t) => {
  const spec = defaultSpec('ttm', 20);
  const rows = 6;
  const data = loadMnist('test', rows);
  const core = await loadCore('node');
  const rt = new Runtime(core, spec, 16, 'train');
  initialise(rt, 3);
  for (const s of rt.slots) if (s.name.endsWith('.bias')) rt.tensor(s.name).forEach((_, i, a) => { a[i] = 0.01 * ((i % 7) - 3); });
  const { lossSum } = rt.trainStep({ source: { inputs: { x: data.inputs }, target: data.labels }, rows });
  const logits = rt.outputs(rows);
  const params: Params = new Map(rt.slots.map((s) => [s.name, Float64Array.from(rt.tensor(s.name))]));
  const ref = referenceForward(spec, params, data.inputs, rows);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(logits[i] - ref[i]) / Math.max(1, Math.abs(ref[i])));
  t.ok(worst <= 10 * F32_VS_F64_REL, `logits max rel err ${worst.toExponential(2)} ≤ ${10 * F32_VS_F64_REL}`);
  t.ok(Math.abs(lossSum / rows - referenceLoss(spec, params, data.inputs, data.labels, rows)) < 1e-5, 'loss equals the f64 reference');
  const h = 1e-5;
  for (const s of rt.slots) {
    const p = params.get(s.name)!;
    const grad = rt.gradient(s.name);
    // 3 entries per tensor, spread over it, plus the entry with the largest gradient.
    let big = 0;
    for (let i = 1; i < grad.length; i++) if (Math.abs(grad[i]) > Math.abs(grad[big])) big = i;
    const picks = [big, ...Array.from({ length: 3 }, (_, j) => Math.floor(((j + 0.5) * p.length) / 3))];
    let worstErr = 0;
    for (const i of picks) {
      const keep = p[i];
      p[i] = keep + h; const up = referenceLoss(spec, params, data.inputs, data.labels, rows);
      p[i] = keep - h; const down = referenceLoss(spec, params, data.inputs, data.labels, rows);
      p[i] = keep;
      const fd = (up - down) / (2 * h);
      worstErr = Math.max(worstErr, Math.abs(grad[i] - fd) / Math.max(GRAD_VS_FD_ABS / GRAD_VS_FD_REL, Math.abs(fd)));
    }
    t.ok(worstErr <= GRAD_VS_FD_REL, `${s.name}: sampled gradients, worst rel err ${worstErr.toExponential(2)} ≤ ${GRAD_VS_FD_REL}`);
  }
});
