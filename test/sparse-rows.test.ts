// Row-sparse training of dense embedding tables (src/runtime/sparse-rows.ts): the row kernels
// equal the dense kernels row by row in every flavour; over several steps of a 3-lane model the
// table's gradient equals the one a fresh runtime computes (so no stale row leaks from a step into
// the next), the touched rows get exactly the dense Adam step, untouched rows and their moments
// keep their bits (lazy Adam, which a dense step would not), and with SVI the table is read as μ.
import t from 'tap';
import { loadCore, type Core, type Flavour } from '../src/core/wasm.js';
import { Runtime } from '../src/runtime/runtime.js';
import { validateSpec } from '../src/spec/validate.js';
import { formatRanks } from '../src/spec/formats.js';
import type { ModelSpec } from '../src/spec/types.js';
import { HostRng } from '../src/util/rng.js';

const ROWS = 40, DIM = 8, BAG = 2;

function spec(inference?: 'svi'): ModelSpec {
  return validateSpec({
    version: 2,
    inputs: [{ name: 'ids', dtype: 'i32', shape: [BAG] }],
    layers: [
      { kind: 'embedding', name: 'e', input: 'ids', rows: ROWS, dim: DIM, format: 'dense', pool: 'sum' },
      { kind: 'linear', name: 'h', format: 'tt', inFeatures: 8, outFeatures: 8, inModes: [2, 4], outModes: [4, 2], ranks: formatRanks('tt', [2, 4], [4, 2], 2) },
      { kind: 'activation', name: 'a', fn: 'relu' },
      { kind: 'linear', name: 'top', format: 'dense', inFeatures: 8, outFeatures: 1 },
    ],
    loss: { kind: 'sigmoid-bce' },
    ...(inference ? { inference } : {}),
  });
}

function fill(rt: Runtime, seed: number): void {
  const rng = new HostRng(seed);
  for (const s of rt.slots) rt.tensor(s.name).set(Float32Array.from({ length: s.floats }, () => 0.5 * rng.normal()));
}

/** A batch of `rows` samples over ids < `range` (so steps touch different, overlapping row sets). */
function batch(rng: HostRng, rows: number, range: number): { ids: Int32Array; y: Float32Array } {
  return { ids: Int32Array.from({ length: rows * BAG }, () => rng.below(range)), y: Float32Array.from({ length: rows }, () => rng.below(2)) };
}

t.test('row kernels equal the dense kernels row by row, in every flavour', async (t) => {
  for (const flavour of ['node', 'edge-scalar'] as Flavour[]) {
    const core: Core = await loadCore(flavour);
    const e = core.exports, base = e.heapBase(), rowFloats = 7, n = 12 * rowFloats; // 7: a SIMD body and a scalar tail
    const need = base + 8 * n * 4 + 64;
    if (core.memory.buffer.byteLength < need) core.memory.grow(Math.ceil((need - core.memory.buffer.byteLength) / 65536));
    const f = (k: number): Float32Array => new Float32Array(core.memory.buffer, base + k * n * 4, n);
    const rng = new HostRng(7);
    for (let k = 0; k < 7; k++) f(k).set(Float32Array.from({ length: n }, () => (k === 3 || k === 6 ? Math.abs(rng.normal()) : rng.normal())));
    const list = new Int32Array(core.memory.buffer, base + 7 * n * 4, 4);
    list.set([9, 2, 5, 0]);
    // Dense reference on copies: buffers 0..3 (params, grads, m, v) vs 4..6 (params, m, v) with 1's grads.
    f(4).set(f(0)); f(5).set(f(2)); f(6).set(f(3));
    const before = [f(0).slice(), f(2).slice(), f(3).slice()];
    e.adamRowsF32(f(0).byteOffset, f(1).byteOffset, f(2).byteOffset, f(3).byteOffset, list.byteOffset, 4, rowFloats, 1e-2, 0.9, 0.999, 1e-8, 3);
    e.adamF32(f(4).byteOffset, f(1).byteOffset, f(5).byteOffset, f(6).byteOffset, n, 1e-2, 0.9, 0.999, 1e-8, 3);
    let same = 0, kept = 0, moved = 0;
    for (let r = 0; r < 12; r++) {
      const touched = [...list].includes(r);
      for (let c = 0; c < rowFloats; c++) {
        const i = r * rowFloats + c;
        if (touched) { if (f(0)[i] === f(4)[i] && f(2)[i] === f(5)[i] && f(3)[i] === f(6)[i]) same++; }
        else { if (f(0)[i] === before[0][i] && f(2)[i] === before[1][i] && f(3)[i] === before[2][i]) kept++; if (f(4)[i] !== before[0][i]) moved++; }
      }
    }
    t.equal(same, 4 * rowFloats, `${flavour}: adamRowsF32 gives the touched rows adamF32's bits`);
    t.equal(kept, 8 * rowFloats, `${flavour}: untouched rows and their moments keep their bits`);
    t.equal(moved, 8 * rowFloats, `${flavour}: where a dense step would have moved them`);
    const y = f(4).slice();
    e.addRowsF32(f(4).byteOffset, f(1).byteOffset, list.byteOffset, 2, rowFloats);
    t.same([...f(4).subarray(9 * rowFloats, 10 * rowFloats)], [...y.subarray(9 * rowFloats, 10 * rowFloats)].map((v, c) => Math.fround(v + f(1)[9 * rowFloats + c])), `${flavour}: addRowsF32 adds a listed row`);
    t.same([...f(4).subarray(5 * rowFloats, 6 * rowFloats)], [...y.subarray(5 * rowFloats, 6 * rowFloats)], `${flavour}: and leaves an unlisted one`);
    e.copyRowsF32(f(4).byteOffset, 0, list.byteOffset + 4, 1, rowFloats);
    t.ok(f(4).subarray(2 * rowFloats, 3 * rowFloats).every((v) => v === 0), `${flavour}: copyRowsF32 from 0 zeroes a row`);
    t.ok(f(4).subarray(3 * rowFloats, 4 * rowFloats).some((v) => v !== 0), `${flavour}: only that row`);
  }
});

t.test('a 3-lane dense table over 6 steps: dense gradients, dense Adam at touched rows, untouched rows kept', async (t) => {
  // A runtime owns its core's memory from the heap base: the fresh twin and dense Adam get their own.
  const [core, twin, scratchCore] = await Promise.all([loadCore('node'), loadCore('node'), loadCore('node')]);
  const s = spec();
  const rt = new Runtime(core, s, 12, 'train', { lanes: 3 });
  t.ok(rt.rowSparse('e.weight'), 'the dense table trains row-sparse');
  t.notOk(rt.rowSparse('top.weight'), 'a linear layer does not');
  fill(rt, 3);
  const rng = new HostRng(11);
  const lr = 5e-2;
  let stepped = 0, movedByDense = 0;
  for (let step = 1; step <= 6; step++) {
    const { ids, y } = batch(rng, step === 4 ? 5 : 12, step <= 3 ? ROWS / 2 : ROWS); // a short batch leaves lanes empty
    const rows = y.length;
    const touched = new Set(ids);
    // The gradient a runtime with nothing left over from earlier steps computes at these parameters.
    const fresh = new Runtime(twin, s, 12, 'train', { lanes: 3 });
    for (const x of rt.slots) fresh.tensor(x.name).set(rt.tensor(x.name));
    fresh.trainStep({ source: { inputs: { ids }, target: y }, rows });
    const want = fresh.gradient('e.weight').slice();
    let seen: Float32Array | null = null;
    const before = ['params', 'adam.m', 'adam.v'].map((b) => rt.slotView(b, 'e.weight').slice());
    rt.hooks = { afterBackward: () => { seen = rt.gradient('e.weight').slice(); return 0; } };
    const r = rt.trainStep({ source: { inputs: { ids }, target: y }, rows }, lr);
    t.ok(r.applied);
    t.same([...seen!], [...want], `step ${step}: the table's gradient equals a fresh runtime's (zero at the ${ROWS - touched.size} untouched rows)`);
    // Dense Adam over the whole table from the same state and gradient.
    const n = ROWS * DIM;
    const scratch = new Float32Array(4 * n);
    scratch.set(before[0], 0); scratch.set(seen!, n); scratch.set(before[1], 2 * n); scratch.set(before[2], 3 * n);
    const dense = denseAdam(scratchCore, scratch, n, lr, step);
    const after = ['params', 'adam.m', 'adam.v'].map((b) => rt.slotView(b, 'e.weight'));
    let bad = 0;
    for (let row = 0; row < ROWS; row++) {
      for (let c = 0; c < DIM; c++) {
        const i = row * DIM + c;
        for (let k = 0; k < 3; k++) {
          const expect = touched.has(row) ? dense[k][i] : before[k][i];
          if (after[k][i] !== expect) bad++;
        }
        if (!touched.has(row) && dense[0][i] !== before[0][i]) movedByDense++;
      }
    }
    t.equal(bad, 0, `step ${step}: touched rows have dense Adam's bits, the other rows their old bits`);
    stepped++;
  }
  t.equal(stepped, 6);
  t.ok(movedByDense > 0, `a dense Adam step would have moved ${movedByDense} untouched entries (the test tells lazy from dense)`);
});

/** Dense adamF32 over [params | grads | m | v] (n floats each) in a scratch core; returns [params, m, v]. */
function denseAdam(core: Core, state: Float32Array, n: number, lr: number, step: number): Float32Array[] {
  const e = core.exports, mem = core.memory, at = e.heapBase();
  if (mem.buffer.byteLength < at + state.byteLength) mem.grow(Math.ceil((at + state.byteLength - mem.buffer.byteLength) / 65536));
  new Float32Array(mem.buffer, at, 4 * n).set(state);
  e.adamF32(at, at + 4 * n, at + 8 * n, at + 12 * n, n, lr, 0.9, 0.999, 1e-8, step);
  return [0, 2, 3].map((k) => new Float32Array(mem.buffer, at + 4 * k * n, n).slice());
}

t.test('SVI: the dense table is read as μ and trains row-sparse beside sampled tensors', async (t) => {
  const [core, twin] = await Promise.all([loadCore('node'), loadCore('node')]);
  const s = spec('svi');
  const rt = new Runtime(core, s, 12, 'train', { lanes: 2 });
  fill(rt, 5);
  t.ok(rt.rowSparse('e.weight'));
  const rng = new HostRng(13);
  const { ids, y } = batch(rng, 12, ROWS);
  // The sampled weights of the governed TT cores stay as filled (μ: the `weights` of the table are never read).
  for (const x of rt.slots) rt.slotView('weights', x.name).set(rt.tensor(x.name));
  rt.slotView('weights', 'e.weight').fill(Number.NaN);
  const r = rt.trainStep({ source: { inputs: { ids }, target: y }, rows: 12 }, 1e-2);
  t.ok(Number.isFinite(r.lossSum), `finite loss ${r.lossSum}: the table's weights slot (NaN) is not what the programs read`);
  const plain = new Runtime(twin, spec(), 12, 'train', { lanes: 2 });
  fill(plain, 5);
  const p = plain.trainStep({ source: { inputs: { ids }, target: y }, rows: 12 }, 1e-2);
  t.equal(r.lossSum, p.lossSum, 'the same loss as the model without SVI at the same μ (weights = μ)');
  t.same([...rt.tensor('e.weight')], [...plain.tensor('e.weight')], 'and the same row-sparse step of the table');
});
