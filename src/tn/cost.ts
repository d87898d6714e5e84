// What a core program costs in time, from measured kernel throughput: the planner's cost model.
//
// Each op is described by a few work counts of the kernel that runs it (features), and its time
// is their dot product with per-kind rates in ns. The rates are fitted by least squares
// (non-negative) to single ops timed alone in the node flavour (`npm run bench -- --calibrate`,
// src/bench/calibrate.ts) and committed below: a plan must not depend on the machine, the flavour
// or the moment it was made, or the same seed would give different bits (the path decides the
// summation order). Flops + 2·moved floats, the model before this one, priced a multiply-add of a
// 1-wide GEMM like one of a 4×8 tile and a strided permute like a copy, and so mis-ranked paths.
//
// The features follow the kernels' shape (assembly/gemm.ts, assembly/lowp.ts):
//   gemm     4×8 / 4×4 register tiles over rows in fours (tileMac), the last m mod 4 rows in 1×8 /
//            1×4 tiles (rowMac), columns past the last four one scalar cell at a time (cellMac),
//            C read and written once per reduction pass of KC (out), per head and per op overheads.
//   gemmI16  2×4 tiles of i32x4.dot_i16x8_s over kp = 8⌈k·t/8⌉ (mac), the edge rows and columns
//            one dot row at a time (edgeMac), each operand value packed to nearest or
//            stochastically (a max pass, then the rounding pass), more for values read off the
//            vector path (packStrided), C rescaled (out).
//   packI16  B packed once for all lanes: its values packed (value), and all of B scanned for its
//            largest |x| (scanned: a job packing some columns scans every column), the values
//            drawn for when it rounds stochastically (stochastic: a gradient packed for several GEMMs).
//   permute  elements copied in runs along a contiguous innermost axis (copied), in 4×4 blocks
//            transposed in registers (transposed), or one at a time (strided), and the steps of
//            the odometer over the other axes (rows) (assembly/permute.ts picks the same way).
//   stream   every other op: floats read plus written (programTrafficFloats).
import { product } from '../util/math.js';
import { programTrafficFloats, type Op } from './compile.js';

export type CostKind = 'gemm' | 'gemmI16' | 'packI16' | 'permute' | 'stream';

/** The feature names of each kind, in the order of KernelRates' entries. */
export const FEATURES: { readonly [K in CostKind]: readonly string[] } = {
  gemm: ['op', 'head', 'tileMac', 'rowMac', 'cellMac', 'out'],
  gemmI16: ['op', 'head', 'mac', 'edgeMac', 'packNearest', 'packStochastic', 'packStrided', 'out'],
  packI16: ['op', 'value', 'scanned', 'stochastic'],
  permute: ['op', 'copied', 'transposed', 'strided', 'rows'],
  stream: ['op', 'float'],
};

/** ns per unit of each feature, per kind (FEATURES gives the order). */
export type KernelRates = { [K in CostKind]: number[] };

/**
 * Fitted to the node flavour on a 2-core AMD EPYC (AVX2) VM, Node 20, 2026-12-03, with
 * `npm run bench -- --calibrate --rounds 5`: 3713 ops (every format's model at its default max
 * rank, 8 and 3, both paths, 4 lanes of 32 rows, f32 and int16 GEMMs, whole and column-range
 * packs, plus a grid of GEMM shapes), after the permute kernel's copy / transpose rows, A packed
 * as columns (sai = 1) and the int16 GEMM's vector epilogue. Median |model / measured − 1| per
 * kind that sitting: gemm 7%, gemmI16 12%, packI16 5%, permute 16%, stream 5%. Absolute values
 * drift with the machine (this sitting ran ~1.4× slower than the one before); the planner only
 * compares sums of them. packI16's `stochastic` was added 2026-12-04 (the gradPack phase) from
 * the same command, the other rows left as they were: that sitting's errors were 18–24 % (a
 * noisy VM), and its packI16 row otherwise agreed with this one within 10 %.
 */
export const MEASURED_RATES: KernelRates = {
  gemm: [14, 35, 0.059, 0.10, 0.68, 0.22],
  gemmI16: [20, 133, 0.028, 0.068, 0.91, 1.66, 7.99, 0.67],
  packI16: [100, 1.27, 0.14, 0.69],
  permute: [14, 0.18, 0.19, 0.57, 10],
  stream: [3.65, 0.051],
};

// assembly/gemm.ts KC: C is re-read once per pass of this many reduction steps.
const KC = 128;

/** The op's cost kind and work counts (FEATURES order), or null for an op that costs nothing here. */
export function costFeatures(op: Op): { kind: CostKind; x: number[] } | null {
  if (op.op === 'gemm') {
    // brgemmF32 folds k = 1 with a batch into one reduction over t.
    const k = op.k === 1 && op.t > 1 ? op.t : op.k, t = op.k === 1 && op.t > 1 ? 1 : op.t;
    const steps = k * t, m4 = op.m - (op.m % 4), n4 = op.n - (op.n % 4);
    return {
      kind: 'gemm',
      x: [1, op.h, op.h * steps * m4 * n4, op.h * steps * (op.m % 4) * n4, op.h * steps * op.m * (op.n % 4),
        op.h * op.m * op.n * Math.ceil(steps / KC)],
    };
  }
  if (op.op === 'gemmI16') {
    const kp = Math.ceil((op.k * op.t) / 8) * 8;
    const m2 = op.m - (op.m % 2), n4 = op.n - (op.n % 4);
    const srA = op.mode === 1 || op.mode === 3, srB = op.mode === 2 || op.mode === 3;
    const bPacked = op.mode === 0 && op.bPacked !== undefined;
    const nearest = op.m * (srA ? 0 : 1) + (bPacked || srB ? 0 : op.n), stochastic = op.m * (srA ? 1 : 0) + op.n * (srB ? 1 : 0);
    // Values packed off the vector path: A's rows gathered when k is not contiguous (sak ≠ 1), B's
    // last n mod 4 columns one at a time (packRows, packCols in assembly/lowp.ts). An A whose rows
    // are contiguous columns (sai = 1) is packed as B is (assembly/tn.ts GEMM_I16), its last m mod 4.
    const aCols = op.sai === 1 && (op.sak !== 1 || op.k === 1) && op.m > 1;
    const strided = (aCols ? op.m % 4 : op.sak !== 1 ? op.m : 0) + (bPacked ? 0 : op.n % 4);
    return {
      kind: 'gemmI16',
      x: [1, op.h, op.h * kp * m2 * n4, op.h * kp * (op.m * op.n - m2 * n4), op.h * kp * nearest, op.h * kp * stochastic, op.h * kp * strided, op.h * op.m * op.n],
    };
  }
  if (op.op === 'packI16') {
    const cols = op.cols ? op.cols[1] - op.cols[0] : op.n;
    const values = cols * Math.ceil((op.k * op.t) / 8) * 8;
    return { kind: 'packI16', x: [1, values, op.n * op.k * op.t, op.sr ? values : 0] };
  }
  if (op.op === 'permute') {
    const floats = product(op.dims), last = op.dims.length - 1, inner = op.dims[last];
    // The kernel's choice (permuteF32, SIMD flavours): the axis looped inside each row is the one
    // before the last, or for a transpose the last axis of stride 1.
    let kind = op.strides[last] === 1 ? 0 : 2, mid = last - 1;
    if (kind === 2) {
      for (let j = last - 1; j >= 0; j--) if (op.strides[j] === 1 && op.dims[j] >= 4 && inner >= 4) { kind = 1; mid = j; break; }
    }
    const rows = floats / inner / (mid >= 0 ? op.dims[mid] : 1);
    return { kind: 'permute', x: [1, kind === 0 ? floats : 0, kind === 1 ? floats : 0, kind === 2 ? floats : 0, rows] };
  }
  const floats = programTrafficFloats([op]);
  return { kind: 'stream', x: [1, floats] };
}

/** The model's time of one op, ns. */
export function opNs(op: Op, rates: KernelRates = MEASURED_RATES): number {
  const f = costFeatures(op);
  if (!f) return 0;
  const r = rates[f.kind];
  let ns = 0;
  for (let i = 0; i < f.x.length; i++) ns += r[i] * f.x[i];
  return ns;
}

/** The model's time of a program, ns: its ops' sum (one thread, nothing overlapped). */
export const programNs = (ops: readonly Op[], rates: KernelRates = MEASURED_RATES): number =>
  ops.reduce((s, o) => s + opNs(o, rates), 0);

/** A timed op: its kind, features and measured ns. */
export interface CostSample { kind: CostKind; x: number[]; ns: number }

/**
 * Non-negative least squares (Lawson–Hanson active set) of ns ≈ x·r, rows weighted by 1/ns so the
 * fit minimises relative error: short ops (most of a small layer's program) count as much as long
 * GEMMs. Returns one rate per feature, ≥ 0.
 */
export function nnls(xs: readonly number[][], ys: readonly number[], weights?: readonly number[]): number[] {
  const p = xs[0]?.length ?? 0;
  const w = weights ?? ys.map(() => 1);
  // Columns scaled to unit norm so features of very different magnitudes (1 per op, 10⁶ macs) solve well.
  const norm = Array.from({ length: p }, (_, j) => Math.sqrt(xs.reduce((s, x, i) => s + (w[i] * x[j]) ** 2, 0)) || 1);
  const A = xs.map((x, i) => x.map((v, j) => (w[i] * v) / norm[j]));
  const b = ys.map((y, i) => w[i] * y);
  const passive = new Array<boolean>(p).fill(false);
  let r = new Array<number>(p).fill(0);
  const solve = (set: number[]): number[] => {
    // Normal equations on the passive set, Gauss–Jordan with partial pivoting.
    const q = set.length;
    const M = set.map((j) => [...set.map((k) => A.reduce((s, row) => s + row[j] * row[k], 0)), A.reduce((s, row, i) => s + row[j] * b[i], 0)]);
    for (let c = 0; c < q; c++) {
      let piv = c;
      for (let i = c + 1; i < q; i++) if (Math.abs(M[i][c]) > Math.abs(M[piv][c])) piv = i;
      [M[c], M[piv]] = [M[piv], M[c]];
      const d = M[c][c] || 1e-300;
      for (let i = 0; i < q; i++) {
        if (i === c) continue;
        const f = M[i][c] / d;
        for (let k = c; k <= q; k++) M[i][k] -= f * M[c][k];
      }
    }
    return set.map((_, i) => M[i][q] / (M[i][i] || 1e-300));
  };
  for (let iter = 0; iter < 3 * p + 10; iter++) {
    const resid = b.map((bi, i) => bi - A[i].reduce((s, a, j) => s + a * r[j], 0));
    const grad = Array.from({ length: p }, (_, j) => A.reduce((s, row, i) => s + row[j] * resid[i], 0));
    let best = -1;
    for (let j = 0; j < p; j++) if (!passive[j] && grad[j] > 1e-12 * (1 + Math.abs(grad[j])) && (best < 0 || grad[j] > grad[best])) best = j;
    if (best < 0) break;
    passive[best] = true;
    for (;;) {
      const set = passive.flatMap((on, j) => (on ? [j] : []));
      const z = solve(set);
      if (z.every((v) => v > 0)) { set.forEach((j, i) => (r[j] = z[i])); break; }
      // Step from r toward z until the first passive rate reaches 0; drop those.
      let alpha = Infinity, hit = -1;
      set.forEach((j, i) => {
        if (z[i] > 0) return;
        const a = r[j] / (r[j] - z[i]);
        if (a < alpha) { alpha = a; hit = j; }
      });
      r = r.map((v, j) => { const i = set.indexOf(j); return i < 0 ? v : v + alpha * (z[i] - v); });
      r[hit] = 0; passive[hit] = false; // the one that reached 0 leaves (so this loop ends)
      set.forEach((j) => { if (r[j] <= 1e-12) { r[j] = 0; passive[j] = false; } });
    }
  }
  return r.map((v, j) => v / norm[j]);
}

/** Rates fitted per kind to timed ops; a kind without samples keeps `fallback`'s rates. */
export function fitRates(samples: readonly CostSample[], fallback: KernelRates = MEASURED_RATES): KernelRates {
  const out = { ...fallback };
  for (const kind of Object.keys(FEATURES) as CostKind[]) {
    const mine = samples.filter((s) => s.kind === kind);
    if (mine.length < FEATURES[kind].length) continue;
    out[kind] = nnls(mine.map((s) => s.x), mine.map((s) => s.ns), mine.map((s) => 1 / s.ns));
  }
  return out;
}
