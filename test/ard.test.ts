// Automatic rank determination: the core's KL and its gradients against f64 finite differences,
// the SVI gradient estimator unbiased on a quadratic, the EM statistics, pruning that leaves the
// network unchanged when the cut slices are zero, planted ranks recovered, and a short MNIST run
// whose ranks fall.
import t from 'tap';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCore } from '../src/core/wasm.js';
import { Runtime } from '../src/runtime/runtime.js';
import { formatRanks, type LayerFormat } from '../src/spec/formats.js';
import { validateSpec } from '../src/spec/validate.js';
import type { ModelSpec } from '../src/spec/types.js';
import { layerRankGroups, rankGroups } from '../src/bayes/groups.js';
import { Ard } from '../src/ard/ard.js';
import { respec, snapshot, snapshotInto, restore, sliceRankVar, sliceTensor, type Kept } from '../src/ard/prune.js';
import { HostRng } from '../src/util/rng.js';
import { klEntry, softplus, sigmoid } from '../src/bayes/prior.js';
import { plantedRank } from '../src/ard/planted.js';
import { train } from '../src/train/train.js';
import { loadModel } from '../src/model/file.js';

const prod = (xs: number[]): number => xs.reduce((p, x) => p * x, 1);
function fill(a: Float32Array, seed: number, scale = 1): void {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = ((s / 2 ** 32) * 2 - 1) * scale; }
}

t.test('KL and its gradients in the core equal f64 values and finite differences', async (t) => {
  const core = await loadCore('edge-scalar');
  const e = core.exports;
  const outer = 3, slices = 4, inner = 5, n = outer * slices * inner;
  const base = (e.heapBase() + 15) & ~15;
  core.memory.grow(4);
  const at = (k: number): number => base + k * n * 4;
  const view = (k: number): Float32Array => new Float32Array(core.memory.buffer, at(k), n);
  const [mu, rho, eps, gmu, grho] = [0, 1, 2, 3, 4].map(view);
  fill(mu, 1, 0.5); fill(rho, 2, 2); fill(eps, 3, 1);
  for (let i = 0; i < n; i++) rho[i] -= 3; // σ around softplus(-3..-1)
  const prec = new Float32Array(core.memory.buffer, at(5), slices);
  prec.set([4, 10, 0.5, 100]);
  const beta = 0.37;
  const kl = e.sviGradF32(at(3), at(4), at(0), at(1), at(2), at(5), outer, slices, inner, beta);
  let ref = 0, worstMu = 0, worstRho = 0;
  const h = 1e-6;
  for (let o = 0, j = 0; o < outer; o++) for (let s = 0; s < slices; s++) for (let i = 0; i < inner; i++, j++) {
    const lam = 1 / prec[s], m = mu[j], r = rho[j];
    ref += klEntry(m, softplus(r), lam);
    const dMu = (klEntry(m + h, softplus(r), lam) - klEntry(m - h, softplus(r), lam)) / (2 * h);
    const dRho = (klEntry(m, softplus(r + h), lam) - klEntry(m, softplus(r - h), lam)) / (2 * h);
    // gmu/grho started at 0 (no data gradient): they hold β·∂KL exactly.
    worstMu = Math.max(worstMu, Math.abs(gmu[j] - beta * dMu) / Math.max(1e-3, Math.abs(beta * dMu)));
    worstRho = Math.max(worstRho, Math.abs(grho[j] - beta * dRho) / Math.max(1e-3, Math.abs(beta * dRho)));
  }
  t.ok(Math.abs(kl - ref) <= 1e-6 * Math.abs(ref), `KL ${kl} = f64 ${ref}`);
  t.ok(worstMu < 1e-4, `∂KL/∂μ vs finite differences: worst rel err ${worstMu.toExponential(2)}`);
  t.ok(worstRho < 1e-4, `∂KL/∂ρ vs finite differences: worst rel err ${worstRho.toExponential(2)}`);
  // MAP: the penalty ½Σμ²/λ and its gradient μ/λ.
  gmu.fill(0);
  const pen = e.mapGradF32(at(3), at(0), at(5), outer, slices, inner, beta);
  let penRef = 0, worst = 0;
  for (let o = 0, j = 0; o < outer; o++) for (let s = 0; s < slices; s++) for (let i = 0; i < inner; i++, j++) {
    penRef += 0.5 * mu[j] * mu[j] * prec[s];
    worst = Math.max(worst, Math.abs(gmu[j] - beta * mu[j] * prec[s]));
  }
  t.ok(Math.abs(pen - penRef) <= 1e-6 * penRef, `MAP penalty ${pen} = ${penRef}`);
  t.ok(worst < 1e-6, 'MAP gradient β·μ/λ');
  // EM statistics: Σ over each slice of μ² + σ² in f64.
  const stats = new Float64Array(core.memory.buffer, at(6), slices);
  stats.fill(0);
  e.sliceSquaresF64(at(6), at(0), at(1), outer, slices, inner);
  for (let s = 0; s < slices; s++) {
    let m = 0;
    for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) { const j = (o * slices + s) * inner + i; m += mu[j] ** 2 + softplus(rho[j]) ** 2; }
    t.ok(Math.abs(stats[s] - m) <= 1e-6 * m, `slice ${s}: M = ${stats[s].toFixed(6)}`);
  }
});

t.test('the SVI gradient estimator is unbiased on a quadratic', async (t) => {
  // L(w) = ½ Σ a_i (w_i − c_i)², w = μ + σ ε: E[L] = ½ Σ a_i ((μ_i − c_i)² + σ_i²), so
  // ∂E/∂μ = a(μ − c) and ∂E/∂ρ = a σ sigmoid(ρ). The core draws ε and forms the estimator.
  const core = await loadCore('node');
  const e = core.exports;
  const n = 6, draws = 20000;
  const base = (e.heapBase() + 15) & ~15;
  core.memory.grow(2);
  const at = (k: number): number => base + 64 + k * 32;
  const [w, eps, mu, rho, gmu, grho] = [0, 1, 2, 3, 4, 5].map((k) => new Float32Array(core.memory.buffer, at(k), n));
  const prec = new Float32Array(core.memory.buffer, at(6), 1);
  prec[0] = 1;
  mu.set([0.3, -1, 2, 0, 0.5, -0.2]); rho.set([-1, 0, 0.5, -2, 1, -0.5]);
  const a = [1, 2, 0.5, 3, 1.5, 1], c = [0, 1, -1, 0.5, 0.2, 0];
  e.rngSeed(base, 5n, 1n);
  const sumMu = new Float64Array(n), sumRho = new Float64Array(n), sqRho = new Float64Array(n);
  for (let d = 0; d < draws; d++) {
    e.sampleWeightsF32(at(0), at(1), at(2), at(3), base, n);
    for (let i = 0; i < n; i++) gmu[i] = a[i] * (w[i] - c[i]);
    e.sviGradF32(at(4), at(5), at(2), at(3), at(1), at(6), 1, 1, n, 0); // β = 0: the data term only
    for (let i = 0; i < n; i++) { sumMu[i] += gmu[i]; sumRho[i] += grho[i]; sqRho[i] += grho[i] ** 2; }
  }
  for (let i = 0; i < n; i++) {
    const s = softplus(rho[i]);
    const wantMu = a[i] * (mu[i] - c[i]), wantRho = a[i] * s * sigmoid(rho[i]);
    const sdMu = a[i] * s / Math.sqrt(draws), sdRho = Math.sqrt(sqRho[i] / draws - (sumRho[i] / draws) ** 2) / Math.sqrt(draws);
    t.ok(Math.abs(sumMu[i] / draws - wantMu) < 4 * sdMu + 1e-6, `μ_${i}: mean ${(sumMu[i] / draws).toFixed(4)} vs ${wantMu.toFixed(4)} (±${(4 * sdMu).toFixed(4)})`);
    t.ok(Math.abs(sumRho[i] / draws - wantRho) < 4 * sdRho + 1e-6, `ρ_${i}: mean ${(sumRho[i] / draws).toFixed(4)} vs ${wantRho.toFixed(4)} (±${(4 * sdRho).toFixed(4)})`);
  }
});

t.test('rank groups: which tensors each slice governs, D per slice', async (t) => {
  const layer = (format: LayerFormat, a: number[], b: number[], r: number) => ({ name: 'l', format, inFeatures: prod(a), outFeatures: prod(b), activation: 'none' as const, inModes: a, outModes: b, ranks: formatRanks(format, a, b, r) });
  const tt = layerRankGroups(layer('tt', [2, 3], [4], 2));
  t.same(tt.map((g) => [g.index, g.size, g.governs.map((x) => `${x.tensor}@${x.axis}`), g.entriesPerSlice]),
    [['r1', 2, ['l.core0@2'], 2], ['r2', 2, ['l.core1@2', 'l.core2@0'], 2 * 3 + 4]]);
  const cp = layerRankGroups(layer('cp', [2, 3], [4], 5));
  t.same(cp.map((g) => [g.index, g.size, g.entriesPerSlice]), [['r', 5, 9]]);
  const tucker = layerRankGroups(layer('tucker', [2, 3], [4], 2));
  t.same(tucker.map((g) => [g.index, g.size, g.entriesPerSlice]), [['core', 1, 8], ['r0', 2, 2], ['r1', 2, 3], ['r2', 2, 4]]);
  const tr = layerRankGroups(layer('tr', [2, 3], [4], 2));
  t.same(tr.map((g) => [g.index, g.governs.map((x) => x.tensor)]), [['r1', ['l.core0']], ['r2', ['l.core1']], ['r0', ['l.core2']]]);
  const ttm = layerRankGroups(layer('ttm', [2, 3, 2], [2, 2, 2], 3));
  t.same(ttm.map((g) => [g.index, g.governs.map((x) => `${x.tensor}@${x.axis}`)]), [['r1', ['l.core0@3']], ['r2', ['l.core1@3', 'l.core2@0']]]);
});

t.test('pruning slices that are exactly zero leaves the network function unchanged', async (t) => {
  const core = await loadCore('node');
  for (const format of ['cp', 'tucker', 'tt', 'ttm', 'tr'] as const) {
    const a = [3, 4], b = [2, 5];
    const l1 = { name: 'fc1', format, inFeatures: 12, outFeatures: 10, activation: 'relu' as const, inModes: a, outModes: b, ranks: formatRanks(format, a, b, 4) };
    const spec: ModelSpec = validateSpec({ version: 1, inputFeatures: 12, classes: 3, inference: 'map', layers: [l1, { name: 'fc2', format: 'dense', inFeatures: 10, outFeatures: 3, activation: 'none' }] });
    const rows = 5;
    const x = new Float32Array(rows * 12);
    fill(x, 9);
    const rt = new Runtime(core, spec, rows, 'train');
    let seed = 3;
    for (const s of rt.slots) fill(rt.tensor(s.name), seed++, 0.7);
    const ard = new Ard(rt, { prior: { kind: 'log-uniform' }, emStep: 1 });
    // Zero slice 1 of every rank group in the tensors it governs (one prior per entry: zeroing the
    // governed side of a bond is enough to make the bond's slice dead everywhere).
    const kept: Kept = new Map([['fc1', new Map()]]);
    for (const g of ard.groups) {
      if (g.index === 'core') continue;
      for (const x of g.governs) {
        const v = rt.tensor(x.tensor);
        for (let o = 0; o < x.outer; o++) for (let i = 0; i < x.inner; i++) v[(o * x.slices + 1) * x.inner + i] = 0;
      }
      kept.get('fc1')!.set(g.index, Array.from({ length: g.size }, (_, r) => r).filter((r) => r !== 1));
    }
    rt.inferStep({ source: { inputs: { x } }, rows });
    const before = rt.outputs(rows);
    const snap = snapshot(rt, kept);
    const small = new Runtime(core, respec(spec, kept), rows, 'train');
    restore(small, snap);
    const ranksAfter = (small.spec.layers[0] as { ranks?: number[] }).ranks!;
    small.inferStep({ source: { inputs: { x } }, rows });
    const after = small.outputs(rows);
    const worst = Math.max(...before.map((v, i) => Math.abs(v - after[i]) / Math.max(1, Math.abs(v))));
    t.ok(worst < 1e-5, `${format}: ranks [${l1.ranks}] → [${ranksAfter}], outputs unchanged (max rel diff ${worst.toExponential(2)})`);
    t.ok(small.plan.endBytes < rt.plan.endBytes, `${format}: the plan shrank (${rt.plan.endBytes} → ${small.plan.endBytes} bytes)`);
    t.equal(sliceRankVar(ard, kept).reduce((n, v) => n + v.length, 0), rankGroups(small.spec).reduce((n, g) => n + g.size, 0), 'rank variances follow');
  }
});

t.test('a full snapshot refreshed in place equals a fresh one, and refuses a runtime of other shapes', async (t) => {
  const core = await loadCore('node');
  const a = [3, 4], b = [2, 5];
  const make = (r: number): ModelSpec => validateSpec({ version: 1, inputFeatures: 12, classes: 3, inference: 'svi', layers: [
    { name: 'fc1', format: 'ttm', inFeatures: 12, outFeatures: 10, activation: 'relu', inModes: a, outModes: b, ranks: formatRanks('ttm', a, b, r) },
    { name: 'fc2', format: 'dense', inFeatures: 10, outFeatures: 3, activation: 'none' }] });
  const rt = new Runtime(core, make(4), 5, 'train', { datasetCount: 40 });
  const full: Kept = new Map();
  const snap = snapshot(rt, full);
  const arrays = [...snap.tensors.values()].flatMap((m) => [...m.values()]);
  let seed = 11;
  for (const s of rt.slots) { fill(rt.tensor(s.name), seed++, 0.5); fill(rt.slotView('adam.v', s.name), seed++, 0.5); }
  rt.i32(rt.bufferAddr('order'), 40).set(Array.from({ length: 40 }, (_, i) => 39 - i));
  rt.adamSteps = 7;
  t.ok(snapshotInto(rt, snap), 'same runtime: refreshed');
  const fresh = snapshot(rt, full);
  t.same([...snap.tensors.values()].flatMap((m) => [...m.values()]), [...fresh.tensors.values()].flatMap((m) => [...m.values()]), 'tensors equal a fresh snapshot');
  t.ok([...snap.tensors.values()].flatMap((m) => [...m.values()]).every((x, i) => x === arrays[i]), 'in the same arrays');
  t.same([snap.order, snap.rng, snap.adamSteps], [fresh.order, fresh.rng, fresh.adamSteps], 'order, generator and Adam steps too');
  const other = new Runtime(core, make(3), 5, 'train', { datasetCount: 40 });
  const before = [...snap.tensors.values()].flatMap((m) => [...m.values()].map((x) => x.slice()));
  t.notOk(snapshotInto(other, snap), 'other ranks: refused');
  t.same([...snap.tensors.values()].flatMap((m) => [...m.values()]), before, 'and left untouched');
  // A good state from a checkpoint may hold only some buffers: replaced, never kept partial.
  const partial = snapshot(rt, full);
  partial.tensors.delete('adam.m');
  t.notOk(snapshotInto(rt, partial), 'a snapshot missing a buffer the runtime has: refused');
  const fewer = snapshot(rt, full);
  fewer.tensors.get('params')!.delete(rt.slots[0].name);
  t.notOk(snapshotInto(rt, fewer), 'one missing a tensor: refused');
});

t.test('planted ranks are recovered for every format (true rank 2 from max rank 6, 5 seeds)', { timeout: 400_000 }, async (t) => {
  const core = await loadCore('node');
  for (const format of ['cp', 'tucker', 'tt', 'ttm', 'tr'] as const) {
    const results = [];
    for (const seed of [1, 2, 3, 4, 5]) results.push(await plantedRank({ format, trueRank: 2, maxRank: 6, seed }, core));
    const hits = results.filter((r) => r.recovered).length;
    t.ok(hits >= 4, `${format}: ${hits}/5 seeds recover [${results[0].trueRanks}] (got ${results.map((r) => `[${r.recoveredRanks}]`).join(' ')})`);
    t.ok(results.every((r) => r.relativeError < 0.1), `${format}: fits within 10 % of the clean matrix (${results.map((r) => r.relativeError.toFixed(3)).join(', ')})`);
  }
});

t.test('a short ARD run on an MNIST subset: ranks fall, the files record it', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-ard-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = await train({
    format: 'ttm', epochs: 3, batch: 64, lr: 2e-3, maxRank: 8, seed: 1, limitTrain: 3000, limitTest: 500, outDir: dir, log: null,
    bayes: { inference: 'svi', prior: { kind: 'log-uniform' }, kl: 1e-3, klWarmup: { start: 0, length: 1 }, rankThreshold: { rel: 1e-2, abs: 1e-12 }, pruneEvery: 0, emStep: 1, sigmaInit: 0.01 },
  });
  const max = [1, 8, 8, 8, 1];
  t.ok(s.ranks.fc1.some((r, i) => r < max[i]), `fc1 ranks fell below [${max}]: [${s.ranks.fc1}]`);
  t.ok(s.testAccuracy > 0.5, `still learns: ${s.testAccuracy}`);
  t.ok(s.pruneEvents!.length >= 1, `${s.pruneEvents!.length} pruning events recorded`);
  for (const e of s.pruneEvents!) t.ok(e.params > 0 && e.planBytes > 0 && e.ranks.fc1.length === 5);
  s.pruneEvents!.forEach((e, i) => {
    if (i > 0) t.ok(e.planBytes <= s.pruneEvents![i - 1].planBytes, `step ${e.step}: the plan shrank or stayed (${s.pruneEvents![i - 1].planBytes} → ${e.planBytes} bytes)`);
  });
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.equal(lines.length, 3, 'metrics.jsonl: one line per epoch');
  for (const key of ['epoch', 'trainLoss', 'kl', 'testAccuracy', 'ranks', 'params']) t.ok(key in lines[2], `metrics line has ${key}`);
  t.same(lines[2].ranks, s.pruneEvents!.length ? lines[2].ranks : s.ranks);
  const model = loadModel(join(dir, 'model.safetensors'));
  t.equal(model.spec.inference, 'svi');
  t.same(model.spec.layers[0].ranks, s.ranks.fc1, 'the saved model has the pruned ranks');
  t.ok(model.tensors.has('fc1.core1.rho') && model.tensors.has('fc1.rankVar.r1'), 'posterior scales and rank variances are saved');
});

t.test('guards: a NaN restores the last good state and halves the lr; a collapse is reported', { timeout: 300_000 }, async (t) => {
  const bayes = { inference: 'map' as const, prior: { kind: 'log-uniform' as const }, kl: 1e-4, klWarmup: { start: 0, length: 1 }, rankThreshold: { rel: 1e-2, abs: 1e-12 }, pruneEvery: 0, emStep: 1, sigmaInit: 0.01 };
  const base = { format: 'ttm' as const, epochs: 1, batch: 50, lr: 1e-3, maxRank: 4, seed: 2, limitTrain: 4000, limitTest: 200, log: null };
  // Good states are kept every 50 steps: a NaN at step 60 goes back to step 50 and training continues.
  const s = await train({ ...base, bayes, injectNanAtStep: 60 });
  t.equal(s.warnings!.filter((w) => /non-finite/.test(w)).length, 1, `one divergence warning: ${s.warnings![0]}`);
  t.match(s.warnings![0], /restored .* halved the learning rate/);
  t.ok(Number.isFinite(s.testLoss) && s.testAccuracy > 0.5, `training went on: test accuracy ${s.testAccuracy}`);
  const collapsed = await train({ ...base, limitTrain: 1000, bayes: { ...bayes, kl: 50, inference: 'svi' } });
  t.ok(collapsed.warnings!.some((w) => /constant predictor/.test(w)), `κ = 50 collapses and says so: ${collapsed.warnings!.join(' / ')}`);
});

t.test('sliceTensor equals an entry-by-entry slice on random shapes and kept sets', async (t) => {
  const rng = new HostRng(17);
  let cases = 0;
  for (let c = 0; c < 200; c++) {
    const d = 1 + rng.below(4);
    const shape = Array.from({ length: d }, () => 1 + rng.below(5));
    const axes = shape.map((_, j) => `a${j}`);
    const keep = new Map<string, number[]>();
    // Each axis: whole (absent), all listed, or a random ascending subset (possibly one entry).
    shape.forEach((n, j) => {
      const k = rng.below(3);
      if (k === 1) keep.set(axes[j], Array.from({ length: n }, (_, i) => i));
      if (k === 2) { const sub = Array.from({ length: n }, (_, i) => i).filter(() => rng.below(2) === 1); keep.set(axes[j], sub.length ? sub : [rng.below(n)]); }
    });
    const data = Float32Array.from({ length: shape.reduce((p, x) => p * x, 1) }, () => rng.normal());
    const picks = shape.map((n, j) => keep.get(axes[j]) ?? Array.from({ length: n }, (_, i) => i));
    const want: number[] = [];
    const walk = (j: number, at: number): void => {
      if (j === d) { want.push(data[at]); return; }
      const stride = shape.slice(j + 1).reduce((p, x) => p * x, 1);
      for (const i of picks[j]) walk(j + 1, at + i * stride);
    };
    walk(0, 0);
    const got = sliceTensor(data, shape, axes, keep);
    if (got.length === want.length && got.every((v, i) => v === want[i])) cases++;
    else t.fail(`shape [${shape}] keep ${JSON.stringify([...keep])}: got [${[...got]}], want [${want}]`);
  }
  t.equal(cases, 200, 'all 200 cases equal');
  t.same([...sliceTensor([1, 2, 3, 4, 5, 6], [2, 3], ['x', 'y'], new Map([['y', [0, 2]]]))], [1, 3, 4, 6], 'a hand case: columns 0 and 2 of a 2×3');
});
