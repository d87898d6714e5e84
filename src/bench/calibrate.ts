// `npm run bench -- --calibrate`: times the ops the planner prices (src/tn/cost.ts), fits the
// kernel rates to them, and checks the model where it matters: does it rank each format's
// contraction paths the way whole training steps do?
//
// The ops are those of every format's default model on both paths (4 lanes of 32 rows, training),
// their int16 forms (nearest, stochastic, B packed once), and a seeded grid of GEMM shapes. Each
// op runs alone, repeated inside one program so one tnRun call amortises the JS boundary, on
// operands of its own in fresh memory (values in ±0.5: no denormals, whose slow path would
// swamp the kernel's).
import type { Core } from '../core/wasm.js';
import { loadCore } from '../core/wasm.js';
import { Runtime } from '../runtime/runtime.js';
import { initialise } from '../runtime/init.js';
import { defaultMaxRank, FORMATS, type LayerFormat } from '../spec/formats.js';
import { defaultSpec } from '../spec/defaults.js';
import { link, type Op, type Ref } from '../tn/compile.js';
import { packedI16Bytes } from '../tn/opcodes.js';
import { costFeatures, fitRates, FEATURES, MEASURED_RATES, programNs, type CostKind, type CostSample, type KernelRates } from '../tn/cost.js';
import type { PathPlan } from '../tn/plan.js';
import { HostRng } from '../util/rng.js';
import { median, product } from '../util/math.js';

const LANES = 4, LANE_ROWS = 32;

/** The Ref fields of an op and the floats each reaches from its offset. */
function extents(op: Op): { field: string; floats: number }[] {
  const ab = (o: { h: number; ha: number; hb: number; hc: number; t: number; strideA: number; strideB: number; m: number; n: number; k: number; sai: number; sak: number; ldb: number; ldc: number }) => [
    { field: 'a', floats: (o.h - 1) * o.ha + (o.t - 1) * o.strideA + (o.m - 1) * o.sai + (o.k - 1) * o.sak + 1 },
    { field: 'b', floats: (o.h - 1) * o.hb + (o.t - 1) * o.strideB + (o.k - 1) * o.ldb + o.n },
    { field: 'c', floats: (o.h - 1) * o.hc + (o.m - 1) * o.ldc + o.n },
  ];
  switch (op.op) {
    case 'gemm': return ab(op);
    case 'gemmI16': return [...ab(op), { field: 'counts', floats: 4 }, ...(op.mode !== 0 ? [{ field: 'seed', floats: 2 }] : []),
      ...(op.mode === 0 && op.bPacked ? [{ field: 'bPacked', floats: packedI16Bytes(op) / 4 }] : [])];
    case 'packI16': return [{ field: 'b', floats: (op.t - 1) * op.strideB + (op.k - 1) * op.ldb + op.n }, { field: 'dst', floats: packedI16Bytes(op) / 4 }, ...(op.sr ? [{ field: 'seed', floats: 2 }] : [])];
    case 'permute': return [{ field: 'src', floats: op.dims.reduce((s, d, i) => s + (d - 1) * op.strides[i], 1) }, { field: 'dst', floats: product(op.dims) }];
    case 'add': return [{ field: 'dst', floats: op.n }, { field: 'src', floats: op.n }];
    case 'zero': return [{ field: 'dst', floats: op.n }];
    default: throw new Error(`calibrate: op ${op.op} is not timed`);
  }
}

/** Times one op alone: ns per run, the median of `rounds`. */
export function timeOp(core: Core, op: Op, rounds: number, rng: HostRng): number {
  const fields = extents(op);
  const at = new Map<string, number>();
  const base = (core.exports.heapBase() + 63) & ~63;
  let bytes = 0;
  for (const f of fields) { at.set(f.field, bytes); bytes += Math.ceil((f.floats * 4) / 64) * 64; }
  const rebased = { ...op } as Record<string, unknown>;
  for (const f of fields) rebased[f.field] = { buf: f.field, off: 0 } satisfies Ref;
  if (op.op === 'packI16' && op.sr) { rebased.sr = { seed: { buf: 'seed', off: 0 }, stream: op.sr.stream }; delete rebased.seed; }
  const one = rebased as unknown as Op;
  const resolve = (buf: string): number => base + at.get(buf)!;
  const progWords = link([one], resolve).length;
  // Copies of the op in one program: enough that a run is long next to the call, few enough to stay small.
  const guessNs = Math.max(200, programNs([op]));
  const copies = Math.max(1, Math.min(256, Math.ceil(100_000 / guessNs), Math.floor(1_000_000 / progWords)));
  const prog = link(new Array<Op>(copies).fill(one), resolve);
  const progAt = base + bytes;
  const need = progAt + prog.byteLength;
  if (core.memory.buffer.byteLength < need) core.memory.grow(Math.ceil((need - core.memory.buffer.byteLength) / 65536));
  const mem = new Float32Array(core.memory.buffer, base, bytes / 4);
  for (let i = 0; i < mem.length; i++) mem[i] = rng.uniform() - 0.5;
  if (at.has('seed')) new DataView(core.memory.buffer).setBigUint64(base + at.get('seed')!, 12345n, true);
  if (at.has('counts')) new Uint32Array(core.memory.buffer, base + at.get('counts')!, 4).fill(0);
  if (op.op === 'gemmI16' && op.mode === 0 && op.bPacked) {
    // A packed B as the pack phase writes it (random bytes would give a random scale, maybe denormal).
    const pack = link([{ op: 'packI16', dst: { buf: 'bPacked', off: 0 }, b: { buf: 'b', off: 0 }, ldb: op.ldb, strideB: op.strideB, n: op.n, k: op.k, t: op.t }], resolve);
    new Int32Array(core.memory.buffer, progAt, pack.length).set(pack);
    core.exports.tnRun(progAt, pack.length);
  }
  new Int32Array(core.memory.buffer, progAt, prog.length).set(prog);
  const run = (): void => { core.exports.tnRun(progAt, prog.length); };
  run();
  const perRun: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < 2 || calls < 2) { run(); calls++; t = performance.now(); }
    perRun.push(((t - t0) * 1e6) / (calls * copies));
  }
  return median(perRun);
}

/** The int16 forms a training step may give a GEMM: nearest both, B packed by the pack phase, stochastic A, B, both. */
function int16Forms(g: Extract<Op, { op: 'gemm' }>): Op[] {
  const seed: Ref = { buf: 'seed', off: 0 }, counts: Ref = { buf: 'counts', off: 0 };
  const forms: Op[] = [{ ...g, op: 'gemmI16', mode: 0, counts }];
  if (g.h === 1) {
    forms.push({ ...g, op: 'gemmI16', mode: 0, counts, bPacked: { buf: 'bPacked', off: 0 } });
    forms.push({ op: 'packI16', dst: { buf: 'dst', off: 0 }, b: g.b, ldb: g.ldb, strideB: g.strideB, n: g.n, k: g.k, t: g.t });
    // One job's share of a pack split over the lanes: a quarter of the columns, all of B scanned.
    if (g.n >= 16) forms.push({ op: 'packI16', dst: { buf: 'dst', off: 0 }, b: g.b, ldb: g.ldb, strideB: g.strideB, n: g.n, k: g.k, t: g.t, cols: [0, Math.ceil(g.n / 16) * 4] });
    // A gradient B packed stochastically once for several GEMMs (prepare.ts, the gradPack phase), whole and in halves.
    forms.push({ op: 'packI16', dst: { buf: 'dst', off: 0 }, b: g.b, ldb: g.ldb, strideB: g.strideB, n: g.n, k: g.k, t: g.t, sr: { seed, stream: 0 } });
    if (g.n >= 16) forms.push({ op: 'packI16', dst: { buf: 'dst', off: 0 }, b: g.b, ldb: g.ldb, strideB: g.strideB, n: g.n, k: g.k, t: g.t, cols: [0, Math.ceil(g.n / 8) * 4], sr: { seed, stream: 0 } });
  }
  for (const mode of [1, 2, 3] as const) forms.push({ ...g, op: 'gemmI16', mode, seed, stream: 0, counts });
  return forms;
}

/** A seeded grid of GEMM shapes around the planner's (ranks, modes, lane rows, W's sides). */
function gridGemms(rng: HostRng, count: number): Extract<Op, { op: 'gemm' }>[] {
  const pick = (xs: number[]): number => xs[rng.below(xs.length)];
  const out: Extract<Op, { op: 'gemm' }>[] = [];
  for (let i = 0; i < count; i++) {
    const m = pick([1, 2, 3, 4, 7, 8, 16, 20, 32, 64, 128]), n = pick([1, 2, 4, 5, 8, 10, 16, 20, 32, 80, 128, 512]);
    const k = pick([1, 4, 7, 16, 20, 28, 64, 128, 512, 784]), t = pick([1, 1, 1, 2, 4, 16]), h = pick([1, 1, 1, 4, 16]);
    if (m * n * k * t * h > 2e7) { i--; continue; }
    const transA = rng.below(2) === 1;
    out.push({
      op: 'gemm', a: { buf: 'a', off: 0 }, b: { buf: 'b', off: 0 }, c: { buf: 'c', off: 0 },
      sai: transA ? 1 : k, sak: transA ? m : 1, strideA: m * k, ldb: n, strideB: k * n, ldc: n,
      m, n, k, t, acc: rng.below(2) === 1, h, ha: t * m * k, hb: t * k * n, hc: m * n,
    });
  }
  return out;
}

/** Each format's default model with its layers on one path (null: the format has no such choice). */
async function runtimeOn(format: LayerFormat, maxRank: number, path: 'direct' | 'reconstruct'): Promise<Runtime> {
  // A core of its own: a Runtime owns its core's memory from the heap base up.
  const rt = new Runtime(await loadCore('node'), defaultSpec(format, maxRank), LANES * LANE_ROWS, 'train', { lanes: LANES, path });
  initialise(rt, 1);
  return rt;
}

const pathNs = (p: PathPlan, rates: KernelRates): number =>
  programNs(p.prep, rates) + programNs(p.finish, rates) + LANES * (programNs(p.forward, rates) + programNs(p.backward, rates));
const oldCost = (p: PathPlan): number => p.forwardFlops + p.backwardFlops + 2 * p.movedFloats;

export interface CalibrateResult {
  samples: number;
  committed: KernelRates;
  fitted: KernelRates;
  /** Per kind: samples, median |model / measured − 1| with the committed and the fitted rates. */
  errors: { kind: CostKind; samples: number; committed: number; fitted: number }[];
  /** Per format: measured step ms on each path, and which path each model and the old cost pick. */
  paths: { format: LayerFormat; maxRank: number; directMs: number; reconstructMs: number; faster: string; model: string; fittedModel: string; oldCost: string }[];
}

export async function calibrate(rounds: number, log: (s: string) => void): Promise<CalibrateResult> {
  const rng = new HostRng(2026);
  const ops: Op[] = [];
  const seen = new Set<string>();
  const add = (o: Op): void => {
    if (!costFeatures(o) || !['gemm', 'gemmI16', 'packI16', 'permute', 'add', 'zero'].includes(o.op)) return;
    const key = JSON.stringify({ ...o, a: 0, b: 0, c: 0, dst: 0, src: 0, seed: 0, counts: 0, bPacked: o.op === 'gemmI16' && o.mode === 0 && o.bPacked ? 1 : 0, stream: 0 });
    if (seen.has(key)) return;
    seen.add(key);
    ops.push(o);
  };
  const runtimes = new Map<string, Runtime>();
  // Each format at its default max rank and at the smaller ranks ARD prunes to.
  const configs = FORMATS.flatMap((format) => [defaultMaxRank(format), 8, 3].map((maxRank) => ({ format, maxRank })));
  for (const { format, maxRank } of configs) {
    for (const path of ['direct', 'reconstruct'] as const) {
      const rt = await runtimeOn(format, maxRank, path);
      runtimes.set(`${format}/${maxRank}/${path}`, rt);
      for (const lp of rt.layerPlans) for (const c of lp.candidates) {
        for (const o of [...c.prep, ...c.forward, ...c.backward, ...c.finish]) {
          add(o);
          if (o.op === 'gemm' && o.k * o.t >= 8) for (const f of int16Forms(o)) add(f);
        }
      }
    }
  }
  for (const g of gridGemms(rng, 80)) { add(g); if (g.k * g.t >= 8) for (const f of int16Forms(g)) add(f); }
  log(`calibrate: timing ${ops.length} ops alone (node flavour, medians of ${rounds} rounds)`);
  const timeCore = await loadCore('node');
  const samples: (CostSample & { op: Op })[] = [];
  for (let i = 0; i < ops.length; i++) {
    const f = costFeatures(ops[i])!;
    samples.push({ kind: f.kind, x: f.x, ns: timeOp(timeCore, ops[i], rounds, rng), op: ops[i] });
    if ((i + 1) % 100 === 0) log(`  ${i + 1} / ${ops.length}`);
  }
  const fitted = fitRates(samples);
  const err = (rates: KernelRates, s: CostSample & { op: Op }): number => Math.abs(programNs([s.op], rates) / s.ns - 1);
  const errors = (Object.keys(FEATURES) as CostKind[]).map((kind) => {
    const mine = samples.filter((s) => s.kind === kind);
    return { kind, samples: mine.length, committed: mine.length ? median(mine.map((s) => err(MEASURED_RATES, s))) : NaN, fitted: mine.length ? median(mine.map((s) => err(fitted, s))) : NaN };
  });
  // Whole steps on each path, interleaved so both see the same machine.
  const paths: CalibrateResult['paths'] = [];
  const x = Float32Array.from({ length: LANES * LANE_ROWS * 784 }, (_, i) => (i % 255) / 255);
  const batch = { source: { inputs: { x }, target: new Int32Array(LANES * LANE_ROWS).map((_, i) => i % 10) }, rows: LANES * LANE_ROWS };
  for (const { format, maxRank } of configs) {
    const d = runtimes.get(`${format}/${maxRank}/direct`)!, r = runtimes.get(`${format}/${maxRank}/reconstruct`)!;
    const kinds = (rt: Runtime): string => rt.layerPlans.map((p) => p.chosen.kind).join('+');
    if (kinds(d) === kinds(r)) continue; // one path only (dense)
    const ms = { d: [] as number[], r: [] as number[] };
    for (const rt of [d, r]) for (let i = 0; i < 3; i++) rt.trainStep(batch, 1e-3);
    for (let round = 0; round < rounds; round++) {
      for (const [rt, into] of [[d, ms.d], [r, ms.r]] as const) {
        const t0 = performance.now();
        for (let i = 0; i < 5; i++) rt.trainStep(batch, 1e-3);
        into.push((performance.now() - t0) / 5);
      }
    }
    const total = (rt: Runtime, f: (p: PathPlan) => number): number => rt.layerPlans.reduce((s, p) => s + f(p.chosen), 0);
    const pick = (f: (p: PathPlan) => number): string => (total(d, f) <= total(r, f) ? 'direct' : 'reconstruct');
    const directMs = median(ms.d), reconstructMs = median(ms.r);
    paths.push({
      format, maxRank, directMs, reconstructMs, faster: directMs <= reconstructMs ? 'direct' : 'reconstruct',
      model: pick((p) => pathNs(p, MEASURED_RATES)), fittedModel: pick((p) => pathNs(p, fitted)), oldCost: pick(oldCost),
    });
  }
  for (const rt of runtimes.values()) await rt.close();
  return { samples: samples.length, committed: MEASURED_RATES, fitted, errors, paths };
}

/** The result as the text `npm run bench -- --calibrate` prints. */
export function formatCalibration(r: CalibrateResult): string {
  const lines: string[] = [''];
  const num = (v: number): string => (v === 0 ? '0' : v >= 10 ? v.toFixed(0) : v >= 0.1 ? v.toFixed(2) : v.toPrecision(2));
  lines.push('kind      feature          committed ns   fitted ns');
  for (const kind of Object.keys(FEATURES) as CostKind[]) {
    FEATURES[kind].forEach((f, i) => lines.push(`${(i === 0 ? kind : '').padEnd(10)}${f.padEnd(17)}${num(r.committed[kind][i]).padStart(12)}${num(r.fitted[kind][i]).padStart(12)}`));
  }
  lines.push('', 'kind      ops   median |model/measured − 1|: committed   fitted');
  for (const e of r.errors) lines.push(`${e.kind.padEnd(10)}${String(e.samples).padStart(4)}${(100 * e.committed).toFixed(1).padStart(38)}%${(100 * e.fitted).toFixed(1).padStart(8)}%`);
  lines.push('', 'format  rank   direct ms  reconstruct ms  faster        model picks   fitted picks  flops+2·moved picks');
  for (const p of r.paths) lines.push(`${p.format.padEnd(8)}${String(p.maxRank).padStart(4)}${p.directMs.toFixed(2).padStart(12)}${p.reconstructMs.toFixed(2).padStart(16)}  ${p.faster.padEnd(14)}${p.model.padEnd(14)}${p.fittedModel.padEnd(14)}${p.oldCost}`);
  lines.push('', `paths ranked as measured: committed rates ${r.paths.filter((p) => p.model === p.faster).length}/${r.paths.length}, fitted ${r.paths.filter((p) => p.fittedModel === p.faster).length}/${r.paths.length}, flops+2·moved ${r.paths.filter((p) => p.oldCost === p.faster).length}/${r.paths.length}`);
  lines.push('To commit fitted rates: src/tn/cost.ts MEASURED_RATES (with the date and this command).');
  return lines.join('\n') + '\n';
}
