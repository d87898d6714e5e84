// Tensorized embedding lookup (src/tn/embedding.ts) for every format: rows equal the rows of the
// f64 reconstruction, gradients equal central finite differences of an f64 reference (duplicates
// summed, padding adding nothing, every gradient overwritten), the SIMD build gives the scalar
// build's bits, a 10^7-row table is looked up in a few MiB, and bad ids are named.
import t from 'tap';
import { loadCore, type Core } from '../src/core/wasm.js';
import { formatRanks, type LayerSpec, type LayerFormat } from '../src/spec/formats.js';
import { layerNetwork } from '../src/tn/network.js';
import { layerToDense, einsumPair } from '../src/model/reconstruct.js';
import { programFlops } from '../src/tn/compile.js';
import { planEmbedding, prepareIndices, digitsOf, EmbeddingRunner, type EmbeddingPlan } from '../src/tn/embedding.js';
import { F32_VS_F64_REL, GRAD_VS_FD_REL, GRAD_VS_FD_ABS } from './helpers/tolerances.js';

const prod = (xs: number[]): number => xs.reduce((p, x) => p * x, 1);
const FORMATS: LayerFormat[] = ['cp', 'tucker', 'tt', 'ttm', 'tr'];

function tableOf(format: LayerFormat, vocabModes: number[], embModes: number[], maxRank: number): LayerSpec {
  return {
    name: 'emb', format, inFeatures: prod(vocabModes), outFeatures: prod(embModes), activation: 'none',
    inModes: vocabModes, outModes: embModes, ranks: formatRanks(format, vocabModes, embModes, maxRank),
  };
}

/** The small table of most tests: 55 of 60 rows used, so the vocabulary is padded. */
const small = (format: LayerFormat): LayerSpec => (format === 'ttm'
  ? tableOf(format, [3, 4, 5], [2, 1, 3], 3)
  : tableOf(format, [3, 4, 5], [2, 3], 3));
const SMALL_V = 55;

function fillRandom(a: Float32Array, seed: number, scale = 1): void {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
}

// Runners on one core are placed one after another, so an older runner stays intact.
const nextBase = new Map<Core, number>();
function runnerOn(core: Core, plan: EmbeddingPlan, seed: number, scale = 0.8): EmbeddingRunner {
  const r = new EmbeddingRunner(core, plan, nextBase.get(core) ?? core.exports.heapBase());
  nextBase.set(core, r.end);
  plan.tensors.forEach((x, k) => fillRandom(r.tensor(x.name), seed + k, scale));
  return r;
}
const factorsOf = (r: EmbeddingRunner): Float64Array[] => r.plan.tensors.map((x) => Float64Array.from(r.tensor(x.name)));

const simd = await loadCore('node');
const scalar = await loadCore('edge-scalar');

t.test('prepareIndices: first-occurrence dedup, inverse, digits, padding', async (t) => {
  const plan = planEmbedding(small('tt'), SMALL_V, 8);
  const p = prepareIndices(plan, [54, 3, 54, 0, 3, 17]);
  t.same(p.unique, [54, 3, 0, 17]);
  t.same([...p.inverse], [0, 1, 0, 2, 1, 3, 0, 0], 'positions past the batch point at slot 0');
  t.same(digitsOf(54, [3, 4, 5]), [2, 2, 4]);
  t.same(digitsOf(17, [3, 4, 5]), [0, 3, 2]);
  // TT cores 0..2 carry vocabulary modes 0..2; unused slots read row 0.
  t.same(plan.gathered.map((g) => g.modes), [[0], [1], [2]]);
  t.same([...p.rows[0]], [2, 0, 0, 0, 0, 0, 0, 0]);
  t.same([...p.rows[1]], [2, 0, 0, 3, 0, 0, 0, 0]);
  t.same([...p.rows[2]], [4, 3, 0, 2, 0, 0, 0, 0]);
  t.same(digitsOf(9_999_999, [200, 220, 250]), [181, 179, 249]);
  // Exact far beyond i32: digits recompose the id.
  const modes = [1000, 1000, 1000, 1000, 1000, 10];
  for (const id of [2 ** 53 - 1, 2 ** 52 + 1, 123_456_789_012_345]) {
    const d = digitsOf(id, modes);
    t.equal(d.reduce((acc, x, k) => acc * modes[k] + x, 0), id, `digits of ${id} recompose it`);
  }
});

t.test('lookup rows equal the rows of the f64 reconstruction, every format and flavour', async (t) => {
  const batches = [
    [54, 7, 7, 0, 31, 54, 12, 7, 44, 19],
    [3, 50, 3],
    [0],
  ];
  for (const core of [simd, scalar]) {
    for (const format of FORMATS) {
      const layer = small(format);
      const plan = planEmbedding(layer, SMALL_V, 12);
      const r = runnerOn(core, plan, 21);
      const W = layerToDense(layer, factorsOf(r));
      const m = plan.rowFloats;
      for (const ids of batches) {
        core.exports.tnResetFlops();
        const out = r.lookup(ids);
        t.equal(core.exports.tnFlops(), programFlops(plan.forward), `${core.flavour} ${format}: executed flops = planned`);
        t.equal(out.length, ids.length * m);
        let worst = 0;
        ids.forEach((id, b) => {
          for (let j = 0; j < m; j++) {
            const ref = W[id * m + j];
            worst = Math.max(worst, Math.abs(out[b * m + j] - ref) / Math.max(1, Math.abs(ref)));
          }
        });
        t.ok(worst <= F32_VS_F64_REL, `${core.flavour} ${format} ranks [${layer.ranks}] ids [${ids}]: max rel err ${worst.toExponential(2)} (tol ${F32_VS_F64_REL})`);
      }
    }
  }
});

t.test('an inference plan looks up the same rows and has no backward', async (t) => {
  const layer = small('ttm');
  const train = runnerOn(simd, planEmbedding(layer, SMALL_V, 6), 5);
  const infer = runnerOn(simd, planEmbedding(layer, SMALL_V, 6, { train: false }), 5);
  t.notOk(infer.plan.buffers.some((b) => b.kind === 'grad'));
  const ids = [9, 1, 9, 40];
  t.same(infer.lookup(ids), train.lookup(ids));
  t.throws(() => infer.backward(new Float32Array(ids.length * infer.plan.rowFloats)), /planned for inference/);
});

t.test('a dense table is a plain gather; its gradient sums dOut rows per id', async (t) => {
  const layer: LayerSpec = { name: 'emb', format: 'dense', inFeatures: 10, outFeatures: 3, activation: 'none' };
  const r = runnerOn(scalar, planEmbedding(layer, 9, 5), 4);
  const E = r.tensor('emb.weight').slice();
  const ids = [8, 2, 8];
  const out = r.lookup(ids);
  t.same([...out], ids.flatMap((id) => [...E.subarray(id * 3, id * 3 + 3)]));
  const w = Float32Array.from({ length: 9 }, (_, i) => i + 1);
  r.backward(w);
  const want = new Float32Array(30);
  ids.forEach((id, b) => { for (let j = 0; j < 3; j++) want[id * 3 + j] += w[b * 3 + j]; });
  t.same([...r.gradient('emb.weight')], [...want]);
  t.equal(r.plan.flopsPerRow, 0);
});

/** Σ_b Σ_j w[b,j]·E[id_b, j] in f64 from the reconstruction. */
function denseLoss(layer: LayerSpec, factors: Float64Array[], ids: number[], w: Float32Array): number {
  const W = layerToDense(layer, factors);
  const m = layer.outFeatures;
  let s = 0;
  ids.forEach((id, b) => { for (let j = 0; j < m; j++) s += w[b * m + j] * W[id * m + j]; });
  return s;
}

t.test('gradients equal central finite differences (duplicates summed, padding adds nothing)', async (t) => {
  const ids = [54, 7, 7, 0, 31, 54, 12, 7, 44];
  for (const format of FORMATS) {
    const core = format === 'tt' || format === 'cp' ? scalar : simd;
    const layer = small(format);
    const plan = planEmbedding(layer, SMALL_V, 12);
    const r = runnerOn(core, plan, 3);
    // A previous batch leaves other ids in the index arrays; they must not leak into this step.
    r.lookup([1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14]);
    r.backward(new Float32Array(12 * plan.rowFloats).fill(1));
    r.lookup(ids);
    const w = new Float32Array(ids.length * plan.rowFloats);
    fillRandom(w, 77);
    // Stale gradients must be overwritten, not accumulated into.
    for (const x of plan.tensors) r.gradient(x.name).fill(NaN);
    r.backward(w);
    const params = factorsOf(r);
    const h = 1e-6;
    plan.tensors.forEach((x, k) => {
      const p = params[k], grad = r.gradient(x.name);
      let worst = 0, worstAt = -1;
      for (let i = 0; i < p.length; i++) {
        const keep = p[i];
        p[i] = keep + h; const up = denseLoss(layer, params, ids, w);
        p[i] = keep - h; const down = denseLoss(layer, params, ids, w);
        p[i] = keep;
        const fd = (up - down) / (2 * h);
        const err = Math.abs(grad[i] - fd) / Math.max(GRAD_VS_FD_ABS / GRAD_VS_FD_REL, Math.abs(fd));
        if (!(err <= worst)) { worst = err; worstAt = i; }
      }
      t.ok(worst <= GRAD_VS_FD_REL, `${core.flavour} ${format} ${x.name} ${JSON.stringify(x.shape)}: worst rel err ${worst.toExponential(2)} at [${worstAt}] (tol ${GRAD_VS_FD_REL})`);
    });
  }
});

t.test('SIMD build equals the scalar build bit for bit (rows and gradients)', async (t) => {
  for (const format of FORMATS) {
    const layer = format === 'ttm' ? tableOf(format, [6, 7, 5], [4, 3, 2], 5) : tableOf(format, [6, 7, 5], [4, 6], 5);
    const plan = planEmbedding(layer, 200, 40);
    const ids = Array.from({ length: 37 }, (_, i) => (i * 97 + 13) % 200 === 5 ? 199 : (i * i * 31 + 7) % 200);
    const w = new Float32Array(ids.length * plan.rowFloats);
    fillRandom(w, 8);
    const results = [simd, scalar].map((core) => {
      const r = runnerOn(core, plan, 40, 0.5);
      const out = r.lookup(ids);
      r.backward(w);
      return { out, grads: plan.tensors.map((x) => r.gradient(x.name).slice()) };
    });
    const same = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    t.ok(same(results[0].out, results[1].out), `${format}: node and edge-scalar rows are bit-identical`);
    plan.tensors.forEach((x, k) => t.ok(same(results[0].grads[k], results[1].grads[k]), `${format} ${x.name}: gradients bit-identical`));
  }
});

/** Row `id` in f64 straight from the factors: each vocabulary index fixed at its digit, then einsum. */
function rowFromSlices(layer: LayerSpec, factors: Float64Array[], id: number): Float64Array {
  const net = layerNetwork(layer);
  const digits = digitsOf(id, layer.inModes!);
  const sliced = net.factors.map((f, k) => {
    let indices = f.indices, data = factors[k];
    for (const ix of f.indices.filter((x) => x.startsWith('i'))) {
      const axis = indices.indexOf(ix);
      const outer = prod(indices.slice(0, axis).map((x) => net.dims[x])), n = net.dims[ix];
      const inner = prod(indices.slice(axis + 1).map((x) => net.dims[x]));
      const d = digits[Number(ix.slice(1))];
      const next = new Float64Array(outer * inner);
      for (let a = 0; a < outer; a++) for (let c = 0; c < inner; c++) next[a * inner + c] = data[(a * n + d) * inner + c];
      indices = indices.filter((x) => x !== ix); data = next;
    }
    return { indices, data };
  });
  let acc = sliced[0];
  for (let k = 1; k < sliced.length; k++) {
    const later = new Set([...net.outIndices, ...sliced.slice(k + 1).flatMap((x) => x.indices)]);
    const keep = [...new Set([...acc.indices, ...sliced[k].indices])].filter((ix) => later.has(ix));
    acc = einsumPair(acc, sliced[k], keep, net.dims) as typeof acc;
  }
  return einsumPair(acc, { indices: [], data: new Float64Array([1]) }, net.outIndices, net.dims).data as Float64Array;
}

t.test('a 10^7-row virtual table: the last rows, in a few MiB, with gradients', async (t) => {
  const core = await loadCore('node');
  const V = 10_131_227; // DLRM table 1 (METHOD.md §1.9); 11e6 rows addressable
  const ids = [V - 1, 9_999_999, 10_000_000 - 1, 0, V - 1, 5_000_000, 10_131_000, V - 1];
  const w = new Float32Array(ids.length * 128);
  fillRandom(w, 12);
  for (const format of FORMATS) {
    const layer = format === 'ttm' ? tableOf(format, [200, 220, 250], [4, 4, 8], 4) : tableOf(format, [200, 220, 250], [128], 4);
    const plan = planEmbedding(layer, V, 16);
    const floats = plan.buffers.reduce((s, b) => s + b.floats, 0);
    t.ok(floats < 100_000, `${format}: all buffers together hold ${floats} floats (the table has ${V * 128})`);
    const r = runnerOn(core, plan, 90, 0.5);
    const out = r.lookup(ids);
    const factors = factorsOf(r);
    let worst = 0;
    ids.forEach((id, b) => {
      const ref = rowFromSlices(layer, factors, id);
      for (let j = 0; j < 128; j++) worst = Math.max(worst, Math.abs(out[b * 128 + j] - ref[j]) / Math.max(1, Math.abs(ref[j])));
    });
    t.ok(worst <= F32_VS_F64_REL, `${format} ranks [${layer.ranks}]: rows of ids up to ${V - 1} match, max rel err ${worst.toExponential(2)}`);

    // Gradients: finite differences of the slice reference over the touched slices (a sample),
    // and exact zeros in every slice no id touches.
    r.backward(w);
    const loss = (): number => ids.reduce((s, id, b) => {
      const row = rowFromSlices(layer, factors, id);
      return s + row.reduce((q, x, j) => q + x * w[b * 128 + j], 0);
    }, 0);
    const net = layerNetwork(layer);
    const touched = ids.map((id) => digitsOf(id, layer.inModes!));
    net.factors.forEach((f, k) => {
      const grad = r.gradient(plan.tensors[k].name), p = factors[k];
      const vocabAxis = f.indices.findIndex((ix) => ix.startsWith('i'));
      const coordOf = (i: number): number => {
        if (vocabAxis < 0) return -1;
        const inner = prod(f.indices.slice(vocabAxis + 1).map((x) => net.dims[x]));
        return Math.floor(i / inner) % net.dims[f.indices[vocabAxis]];
      };
      const mode = vocabAxis < 0 ? -1 : Number(f.indices[vocabAxis].slice(1));
      const used = new Set(touched.map((d) => d[mode]));
      let worst = 0, checked = 0, nonzero = 0;
      for (let i = 0; i < p.length; i++) {
        if (vocabAxis >= 0 && !used.has(coordOf(i))) { if (grad[i] !== 0) nonzero++; continue; }
        if (i % 7 !== 0) continue; // a sample keeps the reference cheap
        const keep = p[i], h = 1e-6;
        p[i] = keep + h; const up = loss();
        p[i] = keep - h; const down = loss();
        p[i] = keep;
        const fd = (up - down) / (2 * h);
        worst = Math.max(worst, Math.abs(grad[i] - fd) / Math.max(GRAD_VS_FD_ABS / GRAD_VS_FD_REL, Math.abs(fd)));
        checked++;
      }
      t.ok(checked > 0 && worst <= GRAD_VS_FD_REL, `${format} ${f.name}: ${checked} sampled gradient entries match FD, worst ${worst.toExponential(2)}`);
      t.equal(nonzero, 0, `${format} ${f.name}: untouched slices have zero gradient`);
    });
  }
  const mib = core.memory.buffer.byteLength / 2 ** 20;
  t.ok(mib < 64, `core memory stays at ${mib} MiB (< 64) for five 10^7-row tables`);
});

t.test('DLRM per-row flops follow METHOD.md §1.8', async (t) => {
  const V = 10_131_227, vm = [200, 220, 250];
  const tt = planEmbedding({ ...tableOf('tt', vm, [128], 24), ranks: [1, 24, 24, 24, 1] }, V, 64);
  t.equal(tt.flopsPerRow, 2 * (24 * 24 + 24 * 24) + 2 * 24 * 128, 'TT R=24: 2Σ r_{k-1}r_k + 2 r m');
  const ttm = planEmbedding(tableOf('ttm', vm, [4, 4, 8], 16), V, 64);
  t.equal(ttm.flopsPerRow, 2 * 4 * 16 * 4 * 16 + 2 * 16 * 16 * 8, 'TTM R=16, e=(4,4,8): Σ 2(Π e_{<k}) r e_k r');
  const cp = planEmbedding(tableOf('cp', vm, [128], 350), V, 64);
  t.equal(cp.flopsPerRow, 2 * 2 * 350 + 2 * 350 * 128, 'CP R=350: 2(d-1)R + 2Rm (a Hadamard product counts 2 flops per entry)');
  const tucker = planEmbedding(tableOf('tucker', vm, [128], 22), V, 64);
  t.ok(tucker.flopsPerRow > 2 * 22 ** 4 && tucker.flopsPerRow < 520_000, `Tucker R=22: ${tucker.flopsPerRow} ≈ 2ΠR_k + …`);
  t.equal(tt.backwardFlopsPerRow, 2 * tt.flopsPerRow, 'backward is two contractions per forward one');
});

t.test('bad ids and plans are named', async (t) => {
  const plan = planEmbedding(small('cp'), SMALL_V, 6);
  const r = runnerOn(simd, plan, 1);
  for (const [bad, shown] of [[-1, '-1'], [SMALL_V, '55'], [1.5, '1.5'], [NaN, 'NaN'], [Infinity, 'Infinity']] as const) {
    t.throws(() => r.lookup([0, 3, bad]), { name: 'RangeError', message: new RegExp(`id ${shown} at position 2 is not an integer in \\[0, 55\\)`) }, `id ${shown} is rejected`);
  }
  t.throws(() => prepareIndices(plan, [1, 2, 3, 4, 5, 6, 7]), /7 ids exceed the planned maxBatch of 6/);
  t.throws(() => planEmbedding(small('cp'), 61, 6), /vocab = 61 must be an integer in 1\.\.60/);
  t.throws(() => planEmbedding(small('cp'), SMALL_V, 0), /maxBatch = 0/);
  t.throws(() => r.backward(new Float32Array(5)), /backward before any lookup/);
  r.lookup([4, 4]);
  t.throws(() => r.backward(new Float32Array(5)), /dOut has 5 floats, the last lookup produced 12/);
});
