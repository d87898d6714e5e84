// The rank prior on embedding tables: for every tensor format, with SVI and with MAP, the gradients
// the training step leaves in μ and ρ (data term through the sampled weights plus β·∂KL) equal
// central finite differences of the f64 objective NLL(μ + σ·ε) + β·Σ KL(N(μ,σ²) ‖ N(0,λ_slice)),
// with repeated ids and bag pooling; and a planted low-rank table's ranks are recovered.
import t from 'tap';
import { loadCore } from '../src/core/wasm.js';
import { Runtime } from '../src/runtime/runtime.js';
import { validateSpec } from '../src/spec/validate.js';
import { formatRanks } from '../src/spec/formats.js';
import type { Inference } from '../src/spec/types.js';
import { Ard } from '../src/ard/ard.js';
import { governedTensors } from '../src/bayes/groups.js';
import { klEntry, softplus } from '../src/bayes/prior.js';
import { plantedRank } from '../src/ard/planted.js';
import { referenceLoss, type Params } from './helpers/reference.js';
import { worstFdError } from './helpers/fd.js';
import { GRAD_VS_FD_REL } from './helpers/tolerances.js';

function fill(a: Float32Array, seed: number, scale = 1, shift = 0): void {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = ((s / 2 ** 32) * 2 - 1) * scale + shift; }
}

t.test('embedding tables with the rank prior: μ and ρ gradients equal finite differences (every format, SVI and MAP)', async (t) => {
  const core = await loadCore('node');
  const rows = 4, bag = 3, beta = 0.3;
  const ids = Int32Array.from([3, 7, 3, 0, 29, 7, 12, 12, 12, 5, 29, 1]);
  const labels = Int32Array.from([0, 2, 1, 2]);
  for (const format of ['cp', 'tucker', 'tt', 'ttm', 'tr'] as const) {
    for (const inference of ['svi', 'map'] as Inference[]) {
      const [inModes, outModes] = format === 'ttm' ? [[4, 8], [2, 3]] : [[4, 8], [6]];
      const spec = validateSpec({
        version: 2, inference,
        inputs: [{ name: 'ids', dtype: 'i32', shape: [bag] }],
        layers: [
          { kind: 'embedding', name: 'e', input: 'ids', rows: 30, dim: 6, format, pool: 'mean', inModes, outModes, ranks: formatRanks(format, inModes, outModes, 3) },
          { kind: 'activation', name: 'h', fn: 'tanh' },
          { kind: 'linear', name: 'top', format: 'dense', inFeatures: 6, outFeatures: 3 },
        ],
        loss: { kind: 'softmax-xent' },
      });
      const rt = new Runtime(core, spec, rows, 'train', { lanes: 2 });
      let seed = 5;
      for (const slot of rt.slots) fill(rt.tensor(slot.name), seed++, 0.8);
      const ard = new Ard(rt, { prior: { kind: 'log-uniform' }, emStep: 1 });
      const governed = [...governedTensors(spec)];
      t.ok(governed.length > 0 && governed.every((n) => n.startsWith('e.')), `${format}: the table's factors carry the prior`);
      if (inference === 'svi') for (const name of governed) fill(rt.slotView('rho', name), seed++, 1, -2.5); // σ ≈ softplus(−3.5..−1.5)
      rt.hooks = { beforeStep: () => ard.sample(), afterBackward: () => ard.priorGrads(beta) };
      rt.seed(7, 0);
      rt.trainStep({ source: { inputs: { ids }, target: labels }, rows });

      // The f64 objective at fixed ε and λ (the step's draw and precisions).
      const mu: Params = new Map(rt.slots.map((s) => [s.name, Float64Array.from(rt.tensor(s.name))]));
      const rho = new Map(governed.map((n) => [n, Float64Array.from(inference === 'svi' ? rt.slotView('rho', n) : new Float32Array(mu.get(n)!.length))]));
      const eps = new Map(governed.map((n) => [n, Float64Array.from(inference === 'svi' ? rt.slotView('eps', n) : new Float32Array(mu.get(n)!.length))]));
      const total = ard.groups.reduce((n, g) => n + g.size, 0);
      const prec = Float64Array.from(rt.f32(rt.bufferAddr('ard.precision'), total));
      const objective = (): number => {
        const w: Params = new Map([...mu].map(([n, m]) => [n, rho.has(n) ? m.map((v, i) => v + softplus(rho.get(n)![i]) * eps.get(n)![i]) : m]));
        let prior = 0, off = 0;
        for (const g of ard.groups) {
          for (const x of g.governs) {
            const m = mu.get(x.tensor)!, r = rho.get(x.tensor)!;
            for (let o = 0, j = 0; o < x.outer; o++) for (let s = 0; s < x.slices; s++) for (let i = 0; i < x.inner; i++, j++) {
              const p = prec[off + s];
              prior += inference === 'svi' ? klEntry(m[j], softplus(r[j]), 1 / p) : 0.5 * m[j] * m[j] * p;
            }
          }
          off += g.size;
        }
        return referenceLoss(spec, w, { ids }, labels, rows) + beta * prior;
      };
      for (const name of governed) {
        const { worst } = worstFdError(mu.get(name)!, rt.gradient(name), objective);
        t.ok(worst <= GRAD_VS_FD_REL, `${format} ${inference} ∂/∂μ ${name}: worst rel err ${worst.toExponential(2)}`);
        if (inference === 'svi') {
          const { worst: wr } = worstFdError(rho.get(name)!, rt.slotView('grads.rho', name), objective);
          t.ok(wr <= GRAD_VS_FD_REL, `${format} svi ∂/∂ρ ${name}: worst rel err ${wr.toExponential(2)}`);
        }
      }
    }
  }
});

t.test('planted ranks of an embedding table are recovered (true rank 2 from max rank 6)', { timeout: 400_000 }, async (t) => {
  const core = await loadCore('node');
  for (const format of ['tt', 'ttm', 'cp'] as const) {
    const results = [];
    for (const seed of [1, 2, 3]) results.push(await plantedRank({ format, trueRank: 2, maxRank: 6, seed, kind: 'embedding' }, core));
    const hits = results.filter((r) => r.recovered).length;
    t.ok(hits >= 2, `${format}: ${hits}/3 seeds recover [${results[0].trueRanks}] (got ${results.map((r) => `[${r.recoveredRanks}]`).join(' ')})`);
    t.ok(results.every((r) => r.relativeError < 0.1), `${format}: the table within 10 % of the clean one (${results.map((r) => r.relativeError.toFixed(3)).join(', ')})`);
  }
});
