// Integer inference ops (assembly/quant.ts, op codes 18–23 of tnRun) on every flavour, bit for bit
// against the hw-sim golden model (hw-sim/quant-program.ts): random QGEMM shapes, layouts, types and
// shifts (saturating operands, exact ties, int32 wraps), QPERMUTE of ranks 1–5 and 1/2/4-byte elements
// (also against a direct index computation), QBIAS, QRELU (in place too), QLUT and QAFFINE (NaN,
// ±Infinity, exact halves, huge values, negative frac), and multi-op programs. Every byte of the data
// region (outputs, inputs, padding) is compared. The golden model's counters are checked on
// hand-made cases, and its refusals (unknown op, wrong length word) too.
import t from 'tap';
import { loadCore, FLAVOURS, type Core } from '../src/core/wasm.js';
import { runQuantProgram, newQuantCounters, type QuantCounters } from '../hw-sim/fixed/quant-program.js';

const QGEMM = 18, QPERMUTE = 19, QBIAS = 20, QRELU = 21, QLUT = 22, QAFFINE = 23;
const I8 = 0, I16 = 1, I32 = 2;
const TYPE_NAMES = ['int8', 'int16', 'int32'];
const BYTES = [1, 2, 4];
const MAX = [127, 32767, 2147483647];
const MIN = [-128, -32768, -2147483648];

/** Seeded LCG over u32 (Numerical Recipes constants), with helpers. */
class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  u32(): number { this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0; return this.s; }
  /** Uniform in [0, 1), from the high bits (the LCG's low bits are weak). */
  unit(): number { this.u32(); const hi = this.s >>> 5; this.u32(); return (hi * 2 ** 26 + (this.s >>> 6)) / 2 ** 53; }
  int(lo: number, hi: number): number { return lo + Math.floor(this.unit() * (hi - lo + 1)); }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.unit() * xs.length)]; }
  chance(p: number): boolean { return this.unit() < p; }
  /** 1..max, one in four exactly 1. */
  dim(max: number): number { return this.chance(0.25) ? 1 : this.int(1, max); }
}

type Mode = 'uniform' | 'extreme' | 'small' | 'mixed';
const MODES: Mode[] = ['uniform', 'extreme', 'small', 'mixed'];

function randQ(r: Rng, type: number, mode: Mode): number {
  const lo = MIN[type], hi = MAX[type];
  const m = mode === 'mixed' ? r.pick(['uniform', 'extreme', 'small'] as const) : mode;
  if (m === 'small') return r.int(-4, 4);
  if (m === 'extreme') return r.chance(0.5) ? r.int(hi - 3, hi) : r.int(lo, lo + 3);
  return r.int(lo, hi);
}

/** A buffer of a case: its initial bytes (outputs start as garbage, so untouched bytes are checked too). */
interface Buf { bytes: Uint8Array }
interface Case {
  what: string;
  bufs: Buf[];
  /** The op's words, given each buffer's address. */
  words(addr: number[]): number[];
  /** Optional extra check of the core's bytes of each buffer (a direct computation). */
  check?(out: Uint8Array[]): string | null;
}

function garbage(r: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r.u32() >>> 24;
  return b;
}

function typedBuf(r: Rng, type: number, n: number, fill: (i: number) => number): Buf {
  const bytes = garbage(r, Math.max(n, 1) * BYTES[type]);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) {
    if (type === I8) dv.setInt8(i, fill(i));
    else if (type === I16) dv.setInt16(2 * i, fill(i), true);
    else dv.setInt32(4 * i, fill(i), true);
  }
  return { bytes };
}

function f32Buf(r: Rng, n: number, fill: (i: number) => number): Buf {
  const bytes = garbage(r, Math.max(n, 1) * 4);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) dv.setFloat32(4 * i, fill(i), true);
  return { bytes };
}

const align16 = (x: number): number => Math.ceil(x / 16) * 16;

interface RunResult { counters: QuantCounters; mismatches: string[] }

/**
 * Lays out the cases' buffers from heapBase, then one program of all their ops; runs it on the core
 * and on the golden model (over a copy of the memory taken before the run); compares every byte of
 * the data region and reports the first difference per buffer.
 */
function runCases(core: Core, cases: Case[]): RunResult {
  const base = align16(core.exports.heapBase());
  let p = base;
  const addrs = cases.map((c) => c.bufs.map((b) => { const a = p; p = align16(p + b.bytes.length); return a; }));
  const dataEnd = p;
  const words: number[] = [];
  cases.forEach((c, i) => words.push(...c.words(addrs[i])));
  const progAddr = dataEnd, end = progAddr + words.length * 4;
  const have = core.memory.buffer.byteLength;
  if (end > have) core.memory.grow(Math.ceil((end - have) / 65536));
  const mem = new Uint8Array(core.memory.buffer);
  cases.forEach((c, i) => c.bufs.forEach((b, j) => mem.set(b.bytes, addrs[i][j])));
  new Int32Array(core.memory.buffer, progAddr, words.length).set(words);
  const image = new Uint8Array(end);
  image.set(mem.subarray(0, end));

  core.exports.tnRun(progAddr, words.length);
  const counters = newQuantCounters();
  runQuantProgram(new DataView(image.buffer), Int32Array.from(words), counters);

  const got = new Uint8Array(core.memory.buffer);
  const mismatches: string[] = [];
  cases.forEach((c, i) => {
    const outs: Uint8Array[] = [];
    c.bufs.forEach((b, j) => {
      const a = addrs[i][j], n = align16(b.bytes.length); // padding up to the next buffer too
      const bytesCore = got.slice(a, a + n), bytesGold = image.subarray(a, a + n);
      outs.push(bytesCore.subarray(0, b.bytes.length));
      for (let k = 0; k < n; k++) {
        if (bytesCore[k] !== bytesGold[k]) {
          mismatches.push(`${c.what}: buffer ${j}, first differing byte ${k}: core ${bytesCore[k]}, golden ${bytesGold[k]}`);
          break;
        }
      }
    });
    const extra = c.check?.(outs);
    if (extra) mismatches.push(`${c.what}: ${extra}`);
  });
  return { counters, mismatches };
}

// ---- case generators ----

interface Gemm {
  aT: number; bT: number; cT: number; m: number; n: number; k: number; t: number; h: number; shift: number;
  sai: number; sak: number; strideA: number; ldb: number; strideB: number; ldc: number; hc: number; ha: number; hb: number;
}

const span = (...terms: [number, number][]): number => 1 + terms.reduce((s, [count, stride]) => s + (count - 1) * stride, 0);

function gemmCase(g: Gemm, a: (i: number) => number, b: (i: number) => number, r: Rng, what: string, ties = false): Case {
  const aLen = span([g.h, g.ha], [g.t, g.strideA], [g.m, g.sai], [g.k, g.sak]);
  const bLen = span([g.h, g.hb], [g.t, g.strideB], [g.k, g.ldb], [g.n, 1]);
  const cLen = span([g.h, g.hc], [g.m, g.ldc], [g.n, 1]);
  const aBuf = typedBuf(r, g.aT, aLen, a), bBuf = typedBuf(r, g.bT, bLen, b);
  return {
    what: `${what} QGEMM ${TYPE_NAMES[g.aT]}×${TYPE_NAMES[g.bT]}→${TYPE_NAMES[g.cT]} m${g.m} n${g.n} k${g.k} t${g.t} h${g.h} ` +
      `shift ${g.shift} sai ${g.sai} sak ${g.sak} strideA ${g.strideA} ldb ${g.ldb} strideB ${g.strideB} ldc ${g.ldc} ` +
      `hc ${g.hc} ha ${g.ha} hb ${g.hb}`,
    bufs: [{ bytes: garbage(r, cLen * BYTES[g.cT]) }, aBuf, bBuf],
    words: ([c, pa, pb]) => [QGEMM, 21, c, g.ldc, pa, g.sai, g.sak, g.strideA, pb, g.ldb, g.strideB, g.m, g.n, g.k, g.t,
      g.h, g.hc, g.ha, g.hb, g.aT | (g.bT << 2) | (g.cT << 4), g.shift],
    check: ([cOut]) => directGemm(g, aBuf.bytes, bBuf.bytes, cOut, ties),
  };
}

const read = (bytes: Uint8Array, type: number, i: number): number => {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return type === I8 ? dv.getInt8(i) : type === I16 ? dv.getInt16(2 * i, true) : dv.getInt32(4 * i, true);
};

/**
 * A second, naive reference for QGEMM in BigInt: the exact sum mod 2^32 (asIntN), then
 * floor division and an explicit half-to-even comparison, or a left shift, then a clamp. With
 * `ties`, also demands that at least one output was an exact tie (the case's construction).
 */
function directGemm(g: Gemm, a: Uint8Array, b: Uint8Array, c: Uint8Array, ties: boolean): string | null {
  let tieCount = 0;
  for (let x = 0; x < g.h; x++) {
    for (let i = 0; i < g.m; i++) {
      for (let j = 0; j < g.n; j++) {
        let sum = 0n;
        for (let tt = 0; tt < g.t; tt++) {
          for (let kk = 0; kk < g.k; kk++) {
            sum += BigInt(read(a, g.aT, x * g.ha + tt * g.strideA + i * g.sai + kk * g.sak)) *
              BigInt(read(b, g.bT, x * g.hb + tt * g.strideB + kk * g.ldb + j));
          }
        }
        const acc = BigInt.asIntN(32, sum);
        let q: bigint;
        if (g.cT === I32) q = acc;
        else if (g.shift <= 0) q = acc << BigInt(-g.shift);
        else {
          const d = 1n << BigInt(g.shift);
          let fl = acc / d;
          if (fl * d > acc) fl -= 1n; // floor
          const twice = 2n * (acc - fl * d);
          if (twice === d) tieCount++;
          if (twice > d || (twice === d && (fl & 1n) !== 0n)) fl += 1n;
          q = fl;
        }
        const lo = BigInt(MIN[g.cT]), hi = BigInt(MAX[g.cT]);
        const want = Number(q > hi ? hi : q < lo ? lo : q);
        const got = read(c, g.cT, x * g.hc + i * g.ldc + j);
        if (got !== want) return `direct BigInt reference: C[${x}](${i},${j}) = ${got}, want ${want} (sum ${sum})`;
      }
    }
  }
  return ties && tieCount === 0 ? 'tie case without a tie' : null;
}

/** A random shape and layout: A as NN (sak = 1) or TN (sai = 1), t slices stacked, interleaved or shared. */
function randomGemm(r: Rng, aT: number, bT: number, cT: number, shift: number,
  fix: (kt: { k: number; t: number }) => void = () => {}): Gemm {
  const m = r.dim(9), n = r.dim(9), h = r.dim(4);
  const kt = { k: r.dim(9), t: r.dim(4) };
  fix(kt);
  const { k, t } = kt;
  const pad = (): number => (r.chance(0.5) ? 0 : r.int(1, 3));
  let sai: number, sak: number, strideA: number;
  const aLayout = r.pick(['nn', 'tn', 'nn-interleaved'] as const);
  if (aLayout === 'nn') { sak = 1; sai = k + pad(); strideA = m * sai + pad(); }
  else if (aLayout === 'tn') { sai = 1; sak = m + pad(); strideA = k * sak + pad(); }
  else { sak = 1; strideA = k; sai = t * k + pad(); } // each row of A holds its t slices side by side
  let ldb: number, strideB: number;
  if (r.chance(0.7)) { ldb = n + pad(); strideB = k * ldb + pad(); } else { strideB = n; ldb = t * n + pad(); }
  if (t > 1 && r.chance(0.1)) strideA = 0; // every slice reads the same A
  const ldc = n + pad(), hc = m * ldc + pad();
  const aSize = span([t, strideA], [m, sai], [k, sak]), bSize = span([t, strideB], [k, ldb], [n, 1]);
  const ha = h > 1 && r.chance(0.15) ? 0 : aSize + pad(), hb = h > 1 && r.chance(0.15) ? 0 : bSize + pad();
  return { aT, bT, cT, m, n, k, t, h, shift, sai, sak, strideA, ldb, strideB, ldc, hc, ha, hb };
}

function randomShift(r: Rng, cT: number): number {
  if (cT === I32) return 0;
  if (r.chance(0.05)) return r.pick([-31, -20, 25, 31]);
  return r.int(-3, 20);
}

/** Largest u with 2^u in the type (as ±odd·2^u with odd = 1). */
const maxPow = (type: number): number => (type === I8 ? 6 : 14);

function qgemmCases(r: Rng, count: number): Case[] {
  const cases: Case[] = [];
  for (let c = 0; c < count; c++) {
    const aT = r.int(0, 1), bT = r.int(0, 1), cT = r.int(0, 2);
    const kind = r.pick(['random', 'random', 'random', 'tie', 'wrap'] as const);
    if (kind === 'random') {
      const g = randomGemm(r, aT, bT, cT, randomShift(r, cT));
      const ma = r.pick(MODES), mb = r.pick(MODES);
      cases.push(gemmCase(g, () => randQ(r, aT, ma), () => randQ(r, bT, mb), r, `#${c} ${ma}/${mb}`));
    } else if (kind === 'tie') {
      // A = ±odd·2^u, B = ±odd·2^v, u + v = shift − 1, an odd number t·k of terms: the sum is an
      // odd multiple of 2^(shift−1), exactly half way between two results.
      const cTt = r.int(0, 1);
      const shift = r.int(1, Math.min(20, maxPow(aT) + maxPow(bT) + 1));
      const u = r.int(Math.max(0, shift - 1 - maxPow(bT)), Math.min(maxPow(aT), shift - 1)), v = shift - 1 - u;
      const g = randomGemm(r, aT, bT, cTt, shift, (kt) => { kt.k |= 1; kt.t |= 1; });
      const odd = (type: number, e: number): number => {
        const lim = Math.max(0, Math.floor((MAX[type] / 2 ** e - 1) / 2));
        return (r.chance(0.5) ? -1 : 1) * (2 * r.int(0, Math.min(lim, 3)) + 1) * 2 ** e;
      };
      cases.push(gemmCase(g, () => odd(aT, u), () => odd(bT, v), r, `#${c} tie`, true));
    } else {
      // int16 extremes summed over t·k ≥ 3 terms: (−32768)² · 3 > 2^31 wraps int32.
      const g = randomGemm(r, I16, I16, cT, randomShift(r, cT), (kt) => { if (kt.k * kt.t < 3) kt.k = 3 + r.int(0, 4); });
      const ext = (): number => (r.chance(0.8) ? -32768 : r.pick([32767, -32767]));
      cases.push(gemmCase(g, ext, ext, r, `#${c} wrap`));
    }
  }
  return cases;
}

function qpermuteCases(r: Rng, count: number): Case[] {
  const cases: Case[] = [];
  for (let c = 0; c < count; c++) {
    const rank = r.int(1, 5), eb = r.pick([1, 2, 4]);
    const dims = Array.from({ length: rank }, () => r.int(1, rank >= 4 ? 4 : 6));
    // The source: a dense (possibly padded) array of the dims in a random order, or broadcasts.
    const order = Array.from({ length: rank }, (_, i) => i);
    for (let i = rank - 1; i > 0; i--) { const j = r.int(0, i); [order[i], order[j]] = [order[j], order[i]]; }
    const strides = new Array<number>(rank).fill(0);
    let s = 1;
    for (let q = rank - 1; q >= 0; q--) {
      const d = order[q];
      strides[d] = r.chance(0.08) ? 0 : s;
      s *= dims[d] + (r.chance(0.3) ? r.int(1, 2) : 0);
    }
    const srcLen = 1 + strides.reduce((acc, st, j) => acc + (dims[j] - 1) * st, 0);
    const total = dims.reduce((x, y) => x * y, 1);
    const srcBuf = { bytes: garbage(r, srcLen * eb) }, dstBuf = { bytes: garbage(r, total * eb) };
    cases.push({
      what: `#${c} QPERMUTE rank ${rank} elemBytes ${eb} dims [${dims}] strides [${strides}]`,
      bufs: [dstBuf, srcBuf],
      words: ([dst, src]) => [QPERMUTE, 6 + 3 * rank, dst, src, rank, eb, ...dims, ...strides, ...dims.map(() => 0x1234)],
      check: ([dstOut]) => {
        // Direct: nested loops over the output, offsets summed as they go.
        let o = 0;
        const walk = (j: number, off: number): string | null => {
          if (j === rank) {
            for (let b = 0; b < eb; b++) {
              if (dstOut[o * eb + b] !== srcBuf.bytes[off * eb + b]) return `direct index: element ${o} byte ${b} differs`;
            }
            o++;
            return null;
          }
          for (let i = 0; i < dims[j]; i++) { const e = walk(j + 1, off + i * strides[j]); if (e) return e; }
          return null;
        };
        return walk(0, 0);
      },
    });
  }
  return cases;
}

function qbiasCases(r: Rng, count: number): Case[] {
  const cases: Case[] = [];
  for (let c = 0; c < count; c++) {
    const type = r.int(0, 2), rows = r.int(0, 9), cols = r.int(1, 12), mode = r.pick(MODES);
    const bias = (): number => {
      if (r.chance(0.3)) return r.int(-4, 4);
      if (type === I32) return r.chance(0.5) ? r.int(MAX[I32] - 3, MAX[I32]) : r.int(MIN[I32], MIN[I32] + 3);
      return r.chance(0.3) ? r.int(-2147483648, 2147483647) : r.int(2 * MIN[type], 2 * MAX[type]);
    };
    cases.push({
      what: `#${c} QBIAS ${TYPE_NAMES[type]} ${rows}×${cols} ${mode}`,
      bufs: [typedBuf(r, type, rows * cols, () => randQ(r, type, mode)), typedBuf(r, I32, cols, bias)],
      words: ([y, b]) => [QBIAS, 7, y, b, rows, cols, type],
    });
  }
  return cases;
}

function qreluCases(r: Rng, count: number): Case[] {
  const cases: Case[] = [];
  for (let c = 0; c < count; c++) {
    const type = r.int(0, 2), n = r.int(0, 40), mode = r.pick(MODES), inPlace = r.chance(0.5);
    const x = typedBuf(r, type, n, () => randQ(r, type, mode));
    cases.push({
      what: `#${c} QRELU ${TYPE_NAMES[type]} n ${n} ${inPlace ? 'in place' : ''}`,
      bufs: inPlace ? [x] : [{ bytes: garbage(r, Math.max(n, 1) * BYTES[type]) }, x],
      words: (a) => [QRELU, 6, a[0], inPlace ? a[0] : a[1], n, type],
    });
  }
  return cases;
}

function qlutCases(r: Rng, count: number): Case[] {
  const cases: Case[] = [];
  for (let c = 0; c < count; c++) {
    const type = r.int(0, 2), n = r.int(0, 64), mode = r.pick(MODES);
    const wide = r.chance(0.1); // table values beyond the type: the store keeps the low bits
    const table = typedBuf(r, I32, 256, () => (wide ? r.int(MIN[I32], MAX[I32]) : randQ(r, type, mode)));
    const inPlace = type === I8 && r.chance(0.3);
    const src = { bytes: garbage(r, Math.max(n, 1)) };
    cases.push({
      what: `#${c} QLUT ${TYPE_NAMES[type]} n ${n}${wide ? ' wide table' : ''}${inPlace ? ' in place' : ''}`,
      bufs: inPlace ? [src, table] : [{ bytes: garbage(r, Math.max(n, 1) * BYTES[type]) }, src, table],
      words: (a) => (inPlace ? [QLUT, 7, a[0], a[0], n, a[1], type] : [QLUT, 7, a[0], a[1], n, a[2], type]),
    });
  }
  return cases;
}

function randomF32(r: Rng): number {
  const k = r.int(0, 9);
  if (k === 0) return r.pick([NaN, Infinity, -Infinity, 0, -0, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-40]);
  if (k <= 2) return Math.fround((r.unit() * 2 - 1) * 2 ** r.int(-30, 127)); // any magnitude, huge included
  return Math.fround((r.unit() * 2 - 1) * 4);
}

function qaffineCases(r: Rng, count: number): Case[] {
  const cases: Case[] = [];
  for (let c = 0; c < count; c++) {
    const type = r.int(0, 2), rows = r.int(0, 6), cols = r.int(1, 10);
    const frac = r.chance(0.05) ? r.pick([-64, 64, -40, 50]) : r.int(-20, 40);
    const ties = r.chance(0.35);
    let mean: number[], invStd: number[], x: (i: number) => number;
    if (ties) {
      // mean = a·2^−frac, x = mean + (q + ½)·2^−frac (exact in f32), invStd = 1: v·2^frac is q + ½.
      const fr = Math.max(-20, Math.min(20, frac));
      mean = Array.from({ length: cols }, () => (r.chance(0.5) ? 0 : r.int(-(2 ** 12), 2 ** 12) * 2 ** -fr));
      invStd = Array.from({ length: cols }, () => 1);
      const lim = type === I8 ? 200 : type === I16 ? 40000 : 2 ** 20;
      x = (i) => Math.fround(mean[i % cols] + (r.int(-lim, lim) + 0.5) * 2 ** -fr);
      cases.push(affineCase(r, `#${c} ties`, type, rows, cols, fr, mean, invStd, x));
      continue;
    }
    mean = Array.from({ length: cols }, () => (r.chance(0.85) ? Math.fround(r.unit() * 2 - 1) : randomF32(r)));
    invStd = Array.from({ length: cols }, () => (r.chance(0.85) ? Math.fround(r.unit() * 4 + 0.01) * (r.chance(0.1) ? -1 : 1) : randomF32(r)));
    const scaleIn = 2 ** -Math.max(-20, Math.min(30, frac)) * MAX[type];
    x = () => (r.chance(0.7) ? Math.fround((r.unit() * 2 - 1) * scaleIn * 1.5) : randomF32(r));
    cases.push(affineCase(r, `#${c}`, type, rows, cols, frac, mean, invStd, x));
  }
  return cases;
}

function affineCase(r: Rng, what: string, type: number, rows: number, cols: number, frac: number,
  mean: number[], invStd: number[], x: (i: number) => number): Case {
  return {
    what: `${what} QAFFINE ${TYPE_NAMES[type]} ${rows}×${cols} frac ${frac}`,
    bufs: [{ bytes: garbage(r, Math.max(rows * cols, 1) * BYTES[type]) }, f32Buf(r, rows * cols, x),
      f32Buf(r, cols, (j) => mean[j]), f32Buf(r, cols, (j) => invStd[j])],
    words: ([dst, src, m, s]) => [QAFFINE, 10, dst, src, m, s, rows, cols, type, frac],
  };
}

// ---- the golden model on hand-made cases (no core needed) ----

function golden(bytes: number, words: number[], init: (dv: DataView) => void): { dv: DataView; counters: QuantCounters } {
  const dv = new DataView(new ArrayBuffer(bytes));
  init(dv);
  const counters = newQuantCounters();
  runQuantProgram(dv, Int32Array.from(words), counters);
  return { dv, counters };
}

t.test('golden model: hand-made cases and counters', async (t) => {
  // k = 3 of (−32768)²: 3·2^30 wraps to −2^30; int32 C, one overflow.
  let g = golden(64, [QGEMM, 21, 0, 1, 16, 1, 1, 0, 32, 1, 0, 1, 1, 3, 1, 1, 0, 0, 0, I16 | (I16 << 2) | (I32 << 4), 0], (dv) => {
    for (let i = 0; i < 3; i++) { dv.setInt16(16 + 2 * i, -32768, true); dv.setInt16(32 + 2 * i, -32768, true); }
  });
  t.equal(g.dv.getInt32(0, true), -(2 ** 30), 'wrapped sum');
  t.same(g.counters, { saturations: 0, overflows: 1, nans: 0 }, 'a known wrap counts 1 overflow');
  // Same wrap requantised to int16 with shift 15: −2^30 / 2^15 = −32768 fits, still 1 overflow only.
  g = golden(64, [QGEMM, 21, 0, 1, 16, 1, 1, 0, 32, 1, 0, 1, 1, 3, 1, 1, 0, 0, 0, I16 | (I16 << 2) | (I16 << 4), 15], (dv) => {
    for (let i = 0; i < 3; i++) { dv.setInt16(16 + 2 * i, -32768, true); dv.setInt16(32 + 2 * i, -32768, true); }
  });
  t.equal(g.dv.getInt16(0, true), -32768);
  t.same(g.counters, { saturations: 0, overflows: 1, nans: 0 });
  // 127·127 = 16129 to int8 with shift 0: one clamp to 127.
  g = golden(64, [QGEMM, 21, 0, 1, 16, 1, 1, 0, 32, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, I8 | (I8 << 2) | (I8 << 4), 0], (dv) => {
    dv.setInt8(16, 127); dv.setInt8(32, 127);
  });
  t.equal(g.dv.getInt8(0), 127);
  t.same(g.counters, { saturations: 1, overflows: 0, nans: 0 }, 'a known clamp counts 1 saturation');
  // Ties at shift 1, 1×1 problems over h = 6 (ha = hb = hc = 1): 3/2 → 2, 5/2 → 2, −3/2 → −2, −5/2 → −2, 7/2 → 4, 1/2 → 0.
  const accs = [3, 5, -3, -5, 7, 1];
  g = golden(64, [QGEMM, 21, 0, 1, 16, 1, 1, 0, 32, 1, 0, 1, 1, 1, 1, 6, 1, 1, 1, I8 | (I8 << 2) | (I8 << 4), 1], (dv) => {
    accs.forEach((v, i) => { dv.setInt8(16 + i, v); dv.setInt8(32 + i, 1); });
  });
  t.same([0, 1, 2, 3, 4, 5].map((i) => g.dv.getInt8(i)), [2, 2, -2, -2, 4, 0], 'ties to even');
  t.same(g.counters, newQuantCounters());
  // shift −3: 20·2^3 = 160 clamps to 127; −2·3·2^3 = −48.
  g = golden(64, [QGEMM, 21, 0, 1, 16, 1, 1, 0, 32, 1, 0, 1, 1, 1, 1, 2, 1, 1, 1, I8 | (I8 << 2) | (I8 << 4), -3], (dv) => {
    dv.setInt8(16, 20); dv.setInt8(32, 1); dv.setInt8(17, -2); dv.setInt8(33, 3);
  });
  t.same([g.dv.getInt8(0), g.dv.getInt8(1)], [127, -48], 'left shift saturates');
  t.equal(g.counters.saturations, 1);
  // QBIAS int8: 100 + 100 → 127, −100 + −100 → −128, 1 + 2 → 3.
  g = golden(64, [QBIAS, 7, 0, 16, 1, 3, I8], (dv) => {
    [100, -100, 1].forEach((v, i) => dv.setInt8(i, v));
    [100, -100, 2].forEach((v, i) => dv.setInt32(16 + 4 * i, v, true));
  });
  t.same([0, 1, 2].map((i) => g.dv.getInt8(i)), [127, -128, 3]);
  t.same(g.counters, { saturations: 2, overflows: 0, nans: 0 });
  // QAFFINE int16, frac 1: NaN → 0 (1 nan), 1e30 → 32767 (1 saturation), 2.25·2 = 4.5 → 4, 2.75·2 = 5.5 → 6, −Inf → −32768.
  g = golden(64, [QAFFINE, 10, 0, 16, 48, 52, 5, 1, I16, 1], (dv) => {
    [NaN, 1e30, 2.25, 2.75, -Infinity].forEach((v, i) => dv.setFloat32(16 + 4 * i, v, true));
    dv.setFloat32(48, 0, true); dv.setFloat32(52, 1, true);
  });
  t.same([0, 1, 2, 3, 4].map((i) => g.dv.getInt16(2 * i, true)), [0, 32767, 4, 6, -32768]);
  t.same(g.counters, { saturations: 2, overflows: 0, nans: 1 });
  // QAFFINE's f32 order: (x − mean) rounds to f32 before the multiply. x = 1 + 2^−23, mean = 1 → 2^−23; ·2^23 → 1.
  g = golden(64, [QAFFINE, 10, 0, 16, 20, 24, 1, 1, I32, 23], (dv) => {
    dv.setFloat32(16, 1 + 2 ** -23, true); dv.setFloat32(20, 1, true); dv.setFloat32(24, 1, true);
  });
  t.equal(g.dv.getInt32(0, true), 1);
  // QLUT int8 with a table entry 300: stores its low byte (44), one overflow; 5 → 5.
  g = golden(1100, [QLUT, 7, 0, 16, 2, 32, I8], (dv) => {
    dv.setUint8(16, 7); dv.setUint8(17, 8); dv.setInt32(32 + 28, 300, true); dv.setInt32(32 + 32, 5, true);
  });
  t.same([g.dv.getInt8(0), g.dv.getInt8(1)], [44, 5]);
  t.same(g.counters, { saturations: 0, overflows: 1, nans: 0 });
  // QRELU in place, int16.
  g = golden(16, [QRELU, 6, 0, 0, 3, I16], (dv) => { [-5, 0, 7].forEach((v, i) => dv.setInt16(2 * i, v, true)); });
  t.same([0, 1, 2].map((i) => g.dv.getInt16(2 * i, true)), [0, 0, 7]);
  // QPERMUTE: a 2×3 int16 transpose (dims [3, 2], strides [1, 3]).
  g = golden(32, [QPERMUTE, 12, 0, 16, 2, 2, 3, 2, 1, 3, 0, 0], (dv) => { for (let i = 0; i < 6; i++) dv.setInt16(16 + 2 * i, i, true); });
  t.same([0, 1, 2, 3, 4, 5].map((i) => g.dv.getInt16(2 * i, true)), [0, 3, 1, 4, 2, 5]);
  // Refusals.
  const dv = new DataView(new ArrayBuffer(64));
  t.throws(() => runQuantProgram(dv, Int32Array.of(17, 8, 0, 0, 0, 0, 1, 1), newQuantCounters()), /op code 17/, 'op 17 is not an integer op');
  t.throws(() => runQuantProgram(dv, Int32Array.of(24, 2), newQuantCounters()), /op code 24/, 'unknown op');
  t.throws(() => runQuantProgram(dv, Int32Array.of(QRELU, 7, 0, 0, 1, I8, 0), newQuantCounters()), /length word = 7/, 'length mismatch');
  t.throws(() => runQuantProgram(dv, Int32Array.of(QPERMUTE, 12, 0, 0, 1, 1, 1, 1, 0), newQuantCounters()), /length word = 12/, 'permute length');
  t.throws(() => runQuantProgram(dv, Int32Array.of(QRELU, 6, 0, 0, 1), newQuantCounters()), /program ends/, 'truncated op');
  t.throws(() => runQuantProgram(dv, Int32Array.of(QGEMM, 21, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, I32, 0), newQuantCounters()),
    /aType/, 'int32 A refused');
  t.throws(() => runQuantProgram(dv, Int32Array.of(QGEMM, 21, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 32), newQuantCounters()),
    /shift = 32/, 'shift beyond 31 refused');
  t.throws(() => runQuantProgram(dv, Int32Array.of(QRELU, 6, 60, 0, 8, I8), newQuantCounters()), /QRELU/, 'out of the image');
});

// ---- every flavour against the golden model ----

const COUNTS = { qgemm: 800, qpermute: 400, qbias: 300, qrelu: 300, qlut: 300, qaffine: 600 };

for (const flavour of FLAVOURS) {
  t.test(`${flavour}: integer ops match the golden model bit for bit`, async (t) => {
    const core = await loadCore(flavour);
    const suites: [string, (r: Rng, n: number) => Case[], number][] = [
      ['QGEMM', qgemmCases, COUNTS.qgemm], ['QPERMUTE', qpermuteCases, COUNTS.qpermute], ['QBIAS', qbiasCases, COUNTS.qbias],
      ['QRELU', qreluCases, COUNTS.qrelu], ['QLUT', qlutCases, COUNTS.qlut], ['QAFFINE', qaffineCases, COUNTS.qaffine],
    ];
    suites.forEach(([name, gen, count], s) => {
      // The same seed on every flavour: the same cases.
      const cases = gen(new Rng(0x9e3779b9 + s), count);
      const total = newQuantCounters();
      const bad: string[] = [];
      for (const c of cases) {
        const res = runCases(core, [c]);
        bad.push(...res.mismatches);
        total.saturations += res.counters.saturations; total.overflows += res.counters.overflows; total.nans += res.counters.nans;
      }
      for (const m of bad.slice(0, 10)) t.fail(`${flavour} ${m}`);
      t.equal(bad.length, 0, `${flavour} ${name}: ${cases.length} cases, mismatches (counters ${JSON.stringify(total)})`);
      if (name === 'QGEMM') {
        t.ok(total.overflows > 50, `${name}: wraps exercised (${total.overflows})`);
        t.ok(total.saturations > 100, `${name}: saturations exercised (${total.saturations})`);
      }
      if (name === 'QBIAS') t.ok(total.saturations > 50, `${name}: saturations exercised (${total.saturations})`);
      if (name === 'QAFFINE') t.ok(total.nans > 10 && total.saturations > 50, `${name}: NaNs and saturations exercised`);
    });

    // The tie cases (each checked above to hold at least one exact tie), again as one program.
    t.test('tie cases round half to even', async (t) => {
      const r = new Rng(0x7135);
      const cases = qgemmCases(r, 200).filter((c) => c.what.includes(' tie '));
      t.ok(cases.length > 20, `${cases.length} tie cases`);
      const res = runCases(core, cases); // also: one program of many ops
      t.same(res.mismatches, [], 'tie cases as one program');
    });

    // Negative strides: addresses are wasm32 arithmetic, base + index·bytes mod 2^32.
    t.test('negative strides', async (t) => {
      const r = new Rng(0x4e6);
      const cases: Case[] = [];
      for (let c = 0; c < 30; c++) {
        // A (m×k, int16) read from its last element backwards: sai = −k, sak = −1.
        const m = r.dim(5), n = r.dim(5), k = r.dim(5), cT = r.int(0, 2), shift = randomShift(r, cT);
        const aBuf = typedBuf(r, I16, m * k, () => randQ(r, I16, 'mixed')), bBuf = typedBuf(r, I8, k * n, () => randQ(r, I8, 'mixed'));
        cases.push({
          what: `#${c} QGEMM backwards A m${m} n${n} k${k} ${TYPE_NAMES[cT]} shift ${shift}`,
          bufs: [{ bytes: garbage(r, m * n * BYTES[cT]) }, aBuf, bBuf],
          words: ([pc, pa, pb]) => [QGEMM, 21, pc, n, pa + 2 * (m * k - 1), -k, -1, 0, pb, n, 0, m, n, k, 1, 1, 0, 0, 0,
            I16 | (I8 << 2) | (cT << 4), shift],
        });
        // A reversed 2-d permute: dims [p, q], strides [−q, −1] from the last element.
        const p = r.dim(6), q = r.dim(6), eb = r.pick([1, 2, 4]);
        cases.push({
          what: `#${c} QPERMUTE reversed ${p}×${q} elemBytes ${eb}`,
          bufs: [{ bytes: garbage(r, p * q * eb) }, { bytes: garbage(r, p * q * eb) }],
          words: ([dst, src]) => [QPERMUTE, 12, dst, src + eb * (p * q - 1), 2, eb, p, q, -q, -1, 0, 0],
        });
      }
      for (const c of cases) { const res = runCases(core, [c]); for (const m of res.mismatches) t.fail(`${flavour} ${m}`); }
      t.pass(`${cases.length} cases`);
    });

    t.test('multi-op programs', async (t) => {
      const r = new Rng(0x51a7);
      const gens = [qgemmCases, qpermuteCases, qbiasCases, qreluCases, qlutCases, qaffineCases];
      for (let p = 0; p < 20; p++) {
        const cases: Case[] = [];
        for (let i = 0; i < 12; i++) cases.push(...r.pick(gens)(r, 1));
        const res = runCases(core, cases);
        for (const m of res.mismatches.slice(0, 5)) t.fail(`${flavour} program ${p}: ${m}`);
        if (res.mismatches.length) break;
      }
      t.pass('programs of 12 random ops');
    });
  });
}
