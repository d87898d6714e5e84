// Training with --precision int16: the GEMM_I16 op equals hw-sim's model (hw-sim/fixed/lowp.ts
// gemmI16Op) bit for bit on every flavour, batched and strided; a training step's gradients are
// within a stated bound of the f32 step's for every format (and not equal: the int16 path ran);
// they are the same bits on 1 and 2 threads and on all three flavours; the CLI trains the default
// model to within a point of f32 and records the precision.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCore, type Flavour } from '../src/core/wasm.js';
import { Runtime } from '../src/runtime/runtime.js';
import { initialise } from '../src/runtime/init.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { FORMATS } from '../src/spec/formats.js';
import { int16Spec } from './helpers/int16-spec.js';
import { link, type Op } from '../src/tn/compile.js';
import { prepare } from '../src/prepare/prepare.js';
import { packedI16Bytes } from '../src/tn/opcodes.js';
import { HostRng } from '../src/util/rng.js';
import { train } from '../src/train/train.js';
import { gemmI16Op, operandBits, srDraw } from '../hw-sim/fixed/lowp.js';

const FLAVOURS: Flavour[] = ['node', 'edge-simd', 'edge-scalar'];
const CLI = join(import.meta.dirname, '..', 'build', 'js', 'src', 'cli', 'main.js');
/** ‖int16 gradient − f32 gradient‖ / ‖f32 gradient‖ per tensor, at most this (measured worst 5.2e-2, tt; the test prints each format's). */
const GRAD_REL_BOUND = 0.08;

t.test('the GEMM_I16 op equals the golden model bit for bit (heads, batch-reduce, strided A, accumulate; nearest-even and stochastic)', async (t) => {
  for (const flavour of FLAVOURS) {
    const core = await loadCore(flavour);
    const rng = new HostRng(21);
    let same = 0;
    for (let c = 0; c < 90; c++) {
      const mode = c < 30 ? 0 : ((c % 3) + 1) as 1 | 2 | 3; // the last 60: stochastic A, B or both, some with a NaN head
      const m = 1 + rng.below(9), n = 1 + rng.below(11), k = 1 + rng.below(13), tt = 1 + rng.below(3), h = 1 + rng.below(3);
      const transA = rng.below(2) === 1; // A read through strides as the transpose of a stored [k × m]
      const [sai, sak] = transA ? [1, m] : [k, 1];
      const aFloats = h * tt * m * k, bFloats = h * tt * k * n, cFloats = h * m * n;
      const g = {
        a: 0, sai, sak, strideA: m * k, b: aFloats, ldb: n, strideB: k * n, c: aFloats + bFloats, ldc: n,
        m, n, k, t: tt, acc: rng.below(2) === 1, h, hc: m * n, ha: tt * m * k, hb: tt * k * n,
      };
      const base = (core.exports.heapBase() + 7) & ~7;
      const seedOff = (aFloats + bFloats + cFloats + 1) & ~1, countsOff = seedOff + 2, floats = countsOff + 3; // the u64 seed, then 3 u32 counters, after C
      const refs = { a: { buf: 'm', off: g.a }, b: { buf: 'm', off: g.b }, c: { buf: 'm', off: g.c } };
      const stream = rng.below(1000);
      const counts = { buf: 'm', off: countsOff };
      const prog = link([mode === 0 ? { op: 'gemmI16', mode, ...g, ...refs, counts } : { op: 'gemmI16', mode, ...g, ...refs, seed: { buf: 'm', off: seedOff }, stream, counts }], () => base);
      const progAt = base + floats * 4;
      const need = progAt + prog.byteLength;
      if (core.memory.buffer.byteLength < need) core.memory.grow(Math.ceil((need - core.memory.buffer.byteLength) / 65536));
      const mem = new Float32Array(core.memory.buffer, base, floats);
      const scale = 2 ** (rng.below(20) - 10);
      for (let i = 0; i < seedOff; i++) mem[i] = rng.normal() * scale * (rng.below(50) === 0 ? 100 : 1);
      const seed = BigInt(rng.below(2 ** 30)) * 7919n;
      // Some values far below the largest (0 after rounding to nearest, 0 or ±1 step stochastically), and exact zeros.
      for (let i = 0; i < seedOff; i++) if (rng.below(8) === 0) mem[i] *= 1e-4; else if (rng.below(16) === 0) mem[i] = 0;
      new Uint32Array(core.memory.buffer, base + countsOff * 4, 3).set([7, 0, 1]); // counters add to what is there
      new DataView(core.memory.buffer).setBigUint64(base + seedOff * 4, seed, true);
      const nanHead = mode !== 0 && h > 1 && rng.below(3) === 0 ? rng.below(h) : -1;
      if (nanHead >= 0) mem[g.b + nanHead * g.hb] = NaN; // A packed, B not; the next heads' keys as if it were finite
      const want = mem.slice();
      const wantCounts = { values: 7, flushed: 0, nonFinite: 1 };
      const fracs = gemmI16Op(want, g, mode !== 0 ? { seed, stream, a: (mode & 1) !== 0, b: (mode & 2) !== 0 } : undefined, wantCounts);
      new Int32Array(core.memory.buffer, progAt, prog.length).set(prog);
      core.exports.tnRun(progAt, prog.length);
      const got = new Float32Array(core.memory.buffer, base, seedOff);
      const gotCounts = [...new Uint32Array(core.memory.buffer, base + countsOff * 4, 3)];
      if (c === 40) t.ok(wantCounts.flushed > 0, `a case with flushed values (${wantCounts.flushed} of ${wantCounts.values - 7})`);
      if (got.every((v, i) => Object.is(v, want[i])) && fracs.every((f, i) => (i === nanHead ? Number.isNaN(f.fracA) : Number.isInteger(f.fracA)))
        && gotCounts.join() === [wantCounts.values, wantCounts.flushed, wantCounts.nonFinite].join()) same++;
      else t.fail(`${flavour} case ${c}: mode ${mode} ${m}×${n}×${k}·${tt} h${h} transA=${transA} nanHead ${nanHead} differs (counts ${gotCounts} vs ${JSON.stringify(wantCounts)})`);
    }
    t.equal(same, 90, `${flavour}: 90 random ops (30 nearest-even, 60 stochastic in A, B or both) equal hw-sim's gemmI16Op, counters included`);
  }
  t.equal(operandBits(784), 11, 'fc1 forward: 11-bit operands');
  // NaN or ±∞ in an operand: int16 cannot carry it, so the op writes NaN (the trainer's guard must see it).
  for (const bad of [NaN, Infinity]) {
    const core = await loadCore('edge-scalar');
    const g = { a: 0, sai: 4, sak: 1, strideA: 12, b: 12, ldb: 5, strideB: 20, c: 32, ldc: 5, m: 3, n: 5, k: 4, t: 1, acc: false, h: 1, hc: 15, ha: 12, hb: 20 };
    const base = core.exports.heapBase(), floats = 47;
    const prog = link([{ op: 'gemmI16', mode: 0, ...g, a: { buf: 'm', off: 0 }, b: { buf: 'm', off: 12 }, c: { buf: 'm', off: 32 } }], () => base);
    if (core.memory.buffer.byteLength < base + floats * 4 + prog.byteLength) core.memory.grow(1);
    const mem = new Float32Array(core.memory.buffer, base, floats);
    mem.fill(0.5);
    mem[14] = bad;
    const want = mem.slice();
    gemmI16Op(want, g);
    new Int32Array(core.memory.buffer, base + floats * 4, prog.length).set(prog);
    core.exports.tnRun(base + floats * 4, prog.length);
    t.ok(new Float32Array(core.memory.buffer, base + 32 * 4, 15).every((v) => Number.isNaN(v)) && want.subarray(32).every((v) => Number.isNaN(v)), `${bad} in B: every C entry NaN, as the model says`);
  }
});

t.test('PACK_I16 then GEMM_I16 with bPacked equals the golden op (B packed once, read by many GEMMs)', async (t) => {
  for (const flavour of FLAVOURS) {
    const core = await loadCore(flavour);
    const rng = new HostRng(5);
    let same = 0, split = 0, stochastic = 0;
    for (let c = 0; c < 30; c++) {
      const m = 1 + rng.below(9), n = 1 + rng.below(21), k = 1 + rng.below(19), tt = 1 + rng.below(3);
      const g = { a: 0, sai: k, sak: 1, strideA: m * k, b: tt * m * k, ldb: n, strideB: k * n, c: tt * (m * k + k * n), ldc: n, m, n, k, t: tt, acc: rng.below(2) === 1, h: 1, hc: m * n, ha: 0, hb: 0 };
      const countsOff = g.c + m * n, seedOff = (countsOff + 3 + 3) & ~3, packOff = seedOff + 4, floats = packOff + packedI16Bytes(g) / 4;
      const base = (core.exports.heapBase() + 15) & ~15;
      const refs = { a: { buf: 'm', off: g.a }, b: { buf: 'm', off: g.b }, c: { buf: 'm', off: g.c } }, counts = { buf: 'm', off: countsOff }, dst = { buf: 'm', off: packOff };
      // Every third case packs B stochastically (a gradient packed once for several GEMMs): the
      // mode 0 GEMM reading it must equal the model's GEMM with B stochastic on the pack's stream.
      const sr = c % 3 === 2 ? { seed: { buf: 'm', off: seedOff }, stream: rng.below(1000) } : undefined;
      const seed = BigInt(rng.below(2 ** 30)) * 4096n + 17n;
      // Odd cases pack B in two or three column ranges (jobs of the pack phase), each at the frac of all of B.
      const cuts = c % 2 === 1 && n >= 3 ? [...new Set([1 + rng.below(n - 1), 1 + rng.below(n - 1)])].sort((x, y) => x - y) : [];
      const edges = [0, ...cuts, n];
      const packs = cuts.length
        ? edges.slice(1).map((j1, i): Op => ({ op: 'packI16', dst, b: refs.b, ldb: g.ldb, strideB: g.strideB, n, k, t: tt, counts, cols: [edges[i], j1], ...(sr ? { sr } : {}) }))
        : [{ op: 'packI16', dst, b: refs.b, ldb: g.ldb, strideB: g.strideB, n, k, t: tt, counts, ...(sr ? { sr } : {}) } as Op];
      if (cuts.length) split++;
      if (sr && cuts.length) stochastic++;
      const prog = link([...packs, { op: 'gemmI16', mode: 0, ...g, ...refs, counts, bPacked: dst }], () => base);
      const progAt = base + floats * 4;
      if (core.memory.buffer.byteLength < progAt + prog.byteLength) core.memory.grow(Math.ceil((progAt + prog.byteLength - core.memory.buffer.byteLength) / 65536));
      const mem = new Float32Array(core.memory.buffer, base, floats);
      mem.fill(0);
      for (let i = 0; i < countsOff; i++) mem[i] = rng.normal() * (rng.below(6) === 0 ? 1e-4 : 1);
      if (c === 19) mem[g.b + 3] = NaN;
      new DataView(core.memory.buffer).setBigUint64(base + seedOff * 4, seed, true);
      const want = mem.slice(0, countsOff);
      const wantCounts = { values: 0, flushed: 0, nonFinite: 0 };
      gemmI16Op(want, g, sr ? { seed, stream: sr.stream, a: false, b: true } : undefined, wantCounts);
      new Int32Array(core.memory.buffer, progAt, prog.length).set(prog);
      core.exports.tnRun(progAt, prog.length);
      const got = new Float32Array(core.memory.buffer, base, countsOff);
      const gotCounts = [...new Uint32Array(core.memory.buffer, base + countsOff * 4, 3)];
      if (got.every((v, i) => Object.is(v, want[i])) && gotCounts.join() === [wantCounts.values, wantCounts.flushed, wantCounts.nonFinite].join()) same++;
      else t.fail(`${flavour} case ${c}: ${m}×${n}×${k}·${tt} differs (counts ${gotCounts} vs ${JSON.stringify(wantCounts)})`);
    }
    t.equal(same, 30, `${flavour}: 30 random packed GEMMs (one with a NaN in B; ${split} packed in column ranges, 10 stochastically) equal hw-sim's gemmI16Op, counters included`);
    t.ok(split >= 5 && stochastic >= 2, `${split} cases packed in ranges, ${stochastic} of them stochastic`);
  }
});

t.test('the gradPack phase packs only a B no finish job writes, and its readers read it packed', async (t) => {
  let shared = 0;
  for (const format of FORMATS) {
    for (const spec of [defaultSpec(format), int16Spec(format).spec]) {
      const p = prepare(spec, { batch: 128, mode: 'train', lanes: 4, precision: 'int16' });
      // What the finish and finishSum jobs write: a B written there would be packed before it is
      // formed (a workspace the finish jobs reuse holds another tensor, or last step's values).
      const written = new Set(p.programs.finish.concat(p.programs.reduce, p.programs.finishSum).flatMap((x) => x.ops)
        .flatMap((o) => [(o as { c?: { buf: string } }).c, (o as { dst?: { buf: string } }).dst].filter((r) => r !== undefined).map((r) => r!.buf)));
      for (const job of p.programs.gradPack) {
        for (const o of job.ops) {
          if (o.op !== 'packI16') { t.fail(`${format}: gradPack holds a ${o.op}`); continue; }
          t.notOk(written.has(o.b.buf), `${format}: gradPack's B ${o.b.buf} is not written by the finish phase`);
          t.ok(o.sr, `${format}: packed stochastically`);
          const readers = p.programs.finish.flatMap((x) => x.ops).filter((g) => g.op === 'gemmI16' && g.bPacked?.buf === o.dst.buf);
          t.ok(readers.length >= 2 && readers.every((g) => g.op === 'gemmI16' && g.mode === 0 && g.b.buf === o.b.buf), `${format}: ${readers.length} finish GEMMs read it packed`);
          shared++;
        }
      }
    }
  }
  t.ok(shared > 0, `${shared} gradPack jobs checked`);
});

t.test('stochastic rounding in GEMM_I16 is unbiased in the mean; nearest-even is not', async (t) => {
  // A = [1, v, v, …] (the 1 sets the scale), B = 1: C = 1 + 63·v. With 11-bit operands (k = 64: 12)
  // v = 0.3 steps of the grid rounds to 0 every time to nearest; stochastically its mean is v.
  const core = await loadCore('node');
  const k = 64, bits = operandBits(k), step = 2 ** -(bits - 2), v = 0.3 * step;
  const g = { a: 0, sai: k, sak: 1, strideA: k, b: k, ldb: 1, strideB: k, c: 2 * k, ldc: 1, m: 1, n: 1, k, t: 1, acc: false, h: 1, hc: 1, ha: k, hb: k };
  const base = (core.exports.heapBase() + 7) & ~7, seedOff = 2 * k + 2, floats = seedOff + 2;
  const refs = { a: { buf: 'm', off: 0 }, b: { buf: 'm', off: k }, c: { buf: 'm', off: 2 * k } };
  const exact = Math.fround(1 + (k - 1) * Math.fround(v));
  const run = (mode: 0 | 3, draws: number): number[] => {
    const prog = link([mode === 0 ? { op: 'gemmI16', mode, ...g, ...refs } : { op: 'gemmI16', mode, ...g, ...refs, seed: { buf: 'm', off: seedOff }, stream: 5 }], () => base);
    const progAt = base + floats * 4;
    if (core.memory.buffer.byteLength < progAt + prog.byteLength) core.memory.grow(1);
    const mem = new Float32Array(core.memory.buffer, base, floats);
    const out: number[] = [];
    for (let d = 0; d < draws; d++) {
      mem.fill(Math.fround(v), 0, k); mem[0] = 1; mem.fill(1, k, 2 * k);
      new DataView(core.memory.buffer).setBigUint64(base + seedOff * 4, BigInt(d), true);
      new Int32Array(core.memory.buffer, progAt, prog.length).set(prog);
      core.exports.tnRun(progAt, prog.length);
      out.push(mem[2 * k]);
    }
    return out;
  };
  const sr = run(3, 4000), ne = run(0, 1)[0];
  const mean = sr.reduce((a, x) => a + x, 0) / sr.length;
  const sd = Math.sqrt(sr.reduce((a, x) => a + (x - mean) ** 2, 0) / (sr.length - 1));
  const se = sd / Math.sqrt(sr.length);
  t.ok(Math.abs(mean - exact) < 4 * se, `stochastic: mean ${mean.toFixed(6)} vs exact ${exact.toFixed(6)} (±${(4 * se).toExponential(2)})`);
  t.ok(Math.abs(ne - exact) > 20 * se, `nearest-even: ${ne} (off by ${(exact - ne).toFixed(4)}, every time)`);
  t.ok(new Set(sr).size > 5, `stochastic: the draws differ from seed to seed (${new Set(sr).size} distinct values)`);
  // The 63 values of one run round independently: C's spread is that of 63 Bernoulli(0.3) steps
  // (draws correlated along the operand would widen or narrow it).
  const wantSd = Math.sqrt((k - 1) * 0.3 * 0.7) * step;
  t.ok(Math.abs(sd / wantSd - 1) < 0.1, `stochastic: spread ${sd.toExponential(3)} vs independent draws' ${wantSd.toExponential(3)}`);
});

/** One step's gradients (no Adam) of the default network of `format` at precision p, on fixed params and data. */
async function gradients(format: (typeof FORMATS)[number], precision: 'f32' | 'int16', flavour: Flavour = 'node', threads = 1): Promise<Map<string, Float32Array>> {
  const core = await loadCore(flavour);
  // 4 lanes of 32 rows (training's default), on a network where the cost model sends some GEMMs to int16.
  const rt = new Runtime(core, int16Spec(format).spec, 128, 'train', { lanes: 4, precision });
  initialise(rt, 3);
  await rt.useThreads(threads);
  const rng = new HostRng(4);
  const x = Float32Array.from({ length: 128 * 784 }, () => rng.uniform());
  const y = Int32Array.from({ length: 128 }, () => rng.below(10));
  rt.trainStep({ source: { inputs: { x }, target: y }, rows: 128 });
  const out = new Map(rt.slots.map((s) => [s.name, rt.gradient(s.name).slice()]));
  await rt.close();
  return out;
}

t.test('int16 step gradients are within the bound of f32 for every format', async (t) => {
  for (const format of FORMATS) {
    const [g32, g16] = [await gradients(format, 'f32'), await gradients(format, 'int16')];
    let worst = 0, differs = false;
    for (const [name, a] of g32) {
      const b = g16.get(name)!;
      let num = 0, den = 0;
      for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += a[i] ** 2; if (a[i] !== b[i]) differs = true; }
      worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
    }
    t.ok(worst <= GRAD_REL_BOUND, `${format}: worst relative gradient error ${worst.toExponential(2)} ≤ ${GRAD_REL_BOUND}`);
    t.ok(differs, `${format}: the int16 path ran (gradients are not the f32 bits)`);
  }
});

t.test('int16 steps give the same bits on 1 and 2 threads and on every flavour', async (t) => {
  const ref = await gradients('ttm', 'int16', 'node', 1);
  const cases: [Flavour, number][] = [['node', 2], ['edge-simd', 1], ['edge-scalar', 1]];
  for (const [flavour, threads] of cases) {
    const g = await gradients('ttm', 'int16', flavour, threads);
    t.ok([...ref].every(([name, a]) => a.every((v, i) => Object.is(v, g.get(name)![i]))), `${flavour}, ${threads} thread(s): identical`);
  }
});

t.test('int16: a NaN in a factor still trips the divergence guard (restore, halve the lr)', { timeout: 300_000 }, async (t) => {
  const bayes = { inference: 'map' as const, prior: { kind: 'log-uniform' as const }, kl: 1e-4, klWarmup: { start: 0, length: 1 }, rankThreshold: { rel: 1e-2, abs: 1e-12 }, pruneEvery: 0, emStep: 1, sigmaInit: 0.01 };
  const dir = mkdtempSync(join(tmpdir(), 'btnn-int16-nan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = await train({ format: 'ttm', epochs: 1, batch: 50, lr: 1e-3, maxRank: 4, seed: 2, limitTrain: 4000, limitTest: 200, log: null, precision: 'int16', bayes, injectNanAtStep: 60, outDir: dir });
  t.equal(s.warnings!.filter((w) => /non-finite/.test(w)).length, 1, `one divergence warning: ${s.warnings![0]}`);
  t.ok(Number.isFinite(s.testLoss), 'and training went on to a finite model');
});

t.test('btnn train --precision int16 trains to within a point of f32 and says so in summary.json', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-int16-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const acc: Record<string, number> = {};
  for (const p of ['f32', 'int16']) {
    const r = spawnSync(process.execPath, [CLI, 'train', '--epochs', '1', '--limit-train', '10000', '--limit-test', '2000', '--precision', p, '--out', join(dir, p)], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr.slice(-300));
    const s = JSON.parse(readFileSync(join(dir, p, 'summary.json'), 'utf8')) as { testAccuracy: number; precision: string; int16?: { values: number; flushed: number; flushedShare: number; nonFinite: number } };
    t.equal(s.precision, p);
    if (p === 'f32') t.equal(s.int16, undefined, 'f32: no int16 counters');
    else {
      // 79 steps of the default network: every step packs at least the operands of fc1's int16
      // GEMMs (the lanes' 32 × 784 inputs alone are 10⁵ values).
      const c = s.int16!;
      t.ok(c.values > 79 * 1e5 && c.flushed > 0 && c.flushed < 0.05 * c.values && c.nonFinite === 0,
        `int16 counters: ${c.values} values, ${c.flushed} rounded to 0 (${(100 * c.flushedShare).toFixed(2)} %), ${c.nonFinite} non-finite heads`);
      t.match(r.stdout, /int16 GEMMs\s+\d+ operand values, \d+\.\d\d % of them nonzero rounded to 0; 0 heads met NaN/);
    }
    acc[p] = s.testAccuracy;
  }
  t.ok(Math.abs(acc.int16 - acc.f32) < 0.01, `test accuracy int16 ${acc.int16} vs f32 ${acc.f32}`);
  t.ok(acc.int16 > 0.85, `and it learned (f32 reaches ${acc.f32} on these 10 000 rows)`);
  const bad = spawnSync(process.execPath, [CLI, 'train', '--precision', 'int8', '--out', join(dir, 'x')], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--precision int8/);
});

t.test('srDraw (one keyed lowbias32 round): uniform, and uncorrelated along an operand and across keys', async (t) => {
  // What stochastic rounding reads is draw >>> 8 (24 bits), as u = draw / 2^32 in [0, 1).
  const n = 1 << 16, rng = new HostRng(8);
  for (let trial = 0; trial < 3; trial++) {
    const k0 = rng.nextU32(), k1 = rng.nextU32(), k0b = rng.nextU32();
    const u = new Float64Array(n), w = new Float64Array(n), bins = new Float64Array(256);
    for (let e = 0; e < n; e++) {
      u[e] = srDraw(e, k0, k1) / 2 ** 32;
      w[e] = srDraw(e, k0b, k1) / 2 ** 32; // the same element under another step's key
      bins[Math.floor(u[e] * 256)]++;
    }
    const chi2 = bins.reduce((a, b) => a + (b - n / 256) ** 2 / (n / 256), 0);
    // 255 degrees of freedom: mean 255, sd 22.6; 5 sd either side.
    t.ok(chi2 > 255 - 5 * 22.6 && chi2 < 255 + 5 * 22.6, `trial ${trial}: χ² over 256 bins ${chi2.toFixed(1)} (255 ± 113)`);
    const corr = (a: Float64Array, b: Float64Array, lag: number): number => {
      let s = 0;
      for (let e = 0; e + lag < n; e++) s += (a[e] - 0.5) * (b[e + lag] - 0.5);
      return (s / (n - lag)) * 12; // the correlation coefficient (Var u = 1/12)
    };
    // 5 standard errors (1/√n) of an uncorrelated pair's coefficient.
    const bound = 5 / Math.sqrt(n);
    for (const lag of [1, 2, 4, 8, 784]) t.ok(Math.abs(corr(u, u, lag)) < bound, `trial ${trial}: lag ${lag} correlation ${corr(u, u, lag).toExponential(2)} (< ${bound.toExponential(2)})`);
    t.ok(Math.abs(corr(u, w, 0)) < bound, `trial ${trial}: same element, another key: correlation ${corr(u, w, 0).toExponential(2)}`);
  }
});
