// Golden model of the core's integer inference ops (op codes 18–23 of a linked tensor-network
// program: QGEMM, QPERMUTE, QBIAS, QRELU, QLUT, QAFFINE): an independent TypeScript interpreter
// that runs such a program over a memory image and says, bit for bit, what every output byte must
// be.
//
// Why: the WASM kernels (assembly/quant.ts, every flavour, SIMD or scalar) are tested against it
// (test/quant-kernels.test.ts), and it is the arithmetic an FPGA/ASIC datapath running a
// quantised model has to reproduce, so it is written from the op semantics, on top of
// hw-sim/fixed-point.ts (requantize, the counters), not transliterated from the kernels. It also
// counts what the hardware cannot see: `overflows` (a wrap changed a result), `saturations`
// (a value was clamped), `nans` (a NaN became 0).
//
// Memory model: `mem` is the core's linear memory (little-endian); addresses are unsigned 32-bit
// byte offsets, strides and offsets count elements, and address arithmetic is wasm32's (mod 2^32:
// negative strides work). Element types (`type` words): 0 int8, 1 int16, 2 int32. Every op is
// `[code, length, …]`; the length is checked against the layout (a mismatch or an unknown code
// throws), and so are types, ranks and shift/frac ranges the core's kernels are defined for.
//
// Semantics in brief (layouts as in assembly/quant.ts):
//   QGEMM    [18, 21, c, ldc, a, sai, sak, strideA, b, ldb, strideB, m, n, k, t, h, hc, ha, hb, types, shift]
//            types = aType | bType << 2 | cType << 4, a and b int8/int16. For each of h problems
//            (offsets x·hc, x·ha, x·hb), C(i,j) = Σ_tt Σ_kk A(tt·strideA + i·sai + kk·sak) ·
//            B(tt·strideB + kk·ldb + j), at C(i·ldc + j). The exact sum (|product| ≤ 2^30, sums
//            far below 2^53) wraps to int32 (i32.add, i32x4.dot_i16x8_s): one `overflow` per element
//            whose exact sum differs. int32 C stores the wrapped sum (shift ignored); int8/int16 C
//            stores requantize(wrapped, shift → frac 0, nearest-even), i.e. ÷2^shift rounded half
//            to even for shift > 0, ×2^−shift for shift ≤ 0, saturated (counted). |shift| ≤ 31.
//   QPERMUTE [19, 6 + 3·rank, dst, src, rank, elemBytes, dims[rank], srcStrides[rank], odometer[rank]]
//            dst (dense, row-major over dims) [idx] = src[Σ idx_j · srcStrides_j], elements of 1, 2
//            or 4 bytes copied as bits. The odometer words are the core's scratch (it leaves them 0);
//            this model does not touch `prog`. dst must not overlap src.
//   QBIAS    [20, 7, y, bias, rows, cols, type]   y[r][j] = sat(y[r][j] + bias[j]) (bias int32), counted
//   QRELU    [21, 6, y, x, n, type]               y[i] = max(x[i], 0); y may equal x
//   QLUT     [22, 7, dst, src, n, table, type]    dst[i] = table[src[i]] (src u8, table 256 int32), stored
//            as its low 8/16/32 bits, as the core's store does (the host keeps table values in range;
//            a value that does not fit counts one `overflow`)
//   QAFFINE  [23, 10, dst, src, mean, invStd, rows, cols, type, frac]
//            f32 x, mean[j], invStd[j]: v = f32(f32(x − mean[j]) · invStd[j]) (the f32 affine op's
//            order), y = v · 2^frac in f64 (exact), NaN → 0 (counted in `nans`), else clamp to
//            ±2^40, round half to even, saturate to the type (counted). |frac| ≤ 64.
// Elements are processed in the kernels' loop order, so in-place forms (QRELU y = x, QBIAS) and
// any aliasing give the same bits.
import { requantize, newCounters, MAX_FRAC, type FixedCounters, type QFormat } from './fixed-point.js';

export type QuantCounters = FixedCounters;
export const newQuantCounters = newCounters;

export const Q_I8 = 0;
export const Q_I16 = 1;
export const Q_I32 = 2;

export const OP_QGEMM = 18;
export const OP_QPERMUTE = 19;
export const OP_QBIAS = 20;
export const OP_QRELU = 21;
export const OP_QLUT = 22;
export const OP_QAFFINE = 23;

/** Largest |shift| of a QGEMM: the core requantises with 32-bit masks, (1 << shift) − 1. */
export const MAX_QGEMM_SHIFT = 31;
/** |QAFFINE y| beyond this saturates whatever the type (and keeps the f64 → integer step exact). */
const AFFINE_CLAMP = 2 ** 40;

const TYPE_NAMES = ['int8', 'int16', 'int32'];
const FORMATS: QFormat[] = [{ bits: 8, frac: 0 }, { bits: 16, frac: 0 }, { bits: 32, frac: 0 }];

const typeMin = (type: number): number => -(2 ** (8 * (1 << type) - 1));
const typeMax = (type: number): number => 2 ** (8 * (1 << type) - 1) - 1;

/** Byte address of element `index` (an int32 element count) of `base`, as wasm32 computes it. */
const at = (base: number, index: number, bytes: number): number => (base + Math.imul(index, bytes)) >>> 0;

function load(mem: DataView, base: number, index: number, type: number): number {
  if (type === Q_I8) return mem.getInt8(at(base, index, 1));
  if (type === Q_I16) return mem.getInt16(at(base, index, 2), true);
  return mem.getInt32(at(base, index, 4), true);
}

/** Stores the low bits of an int32 `v` (the caller saturates first where the op saturates). */
function store(mem: DataView, base: number, index: number, v: number, type: number): void {
  if (type === Q_I8) mem.setInt8(at(base, index, 1), v);
  else if (type === Q_I16) mem.setInt16(at(base, index, 2), v, true);
  else mem.setInt32(at(base, index, 4), v, true);
}

/** Clamps an integer (a JS number, any size) to the type, counting a clamp. */
function sat(v: number, type: number, counters: QuantCounters): number {
  const lo = typeMin(type), hi = typeMax(type);
  if (v > hi) { counters.saturations++; return hi; }
  if (v < lo) { counters.saturations++; return lo; }
  return v;
}

/** Round half to even, for |y| ≤ 2^40 (floor and the fraction are then exact). */
function roundHalfEven(y: number): number {
  let q = Math.floor(y);
  const f = y - q;
  if (f > 0.5 || (f === 0.5 && q % 2 !== 0)) q += 1;
  return q;
}

function opName(code: number): string {
  return ['QGEMM', 'QPERMUTE', 'QBIAS', 'QRELU', 'QLUT', 'QAFFINE'][code - OP_QGEMM] ?? `op ${code}`;
}

function checkType(what: string, type: number, allowed: number[]): void {
  if (!allowed.includes(type)) {
    throw new RangeError(`${what} = ${type}: must be one of ${allowed.map((t) => `${t} (${TYPE_NAMES[t]})`).join(', ')}`);
  }
}

function checkCount(what: string, v: number): void {
  if (v < 0) throw new RangeError(`${what} = ${v}: must be ≥ 0`);
}

function qgemm(mem: DataView, w: Int32Array, counters: QuantCounters): void {
  const c = w[2] >>> 0, ldc = w[3];
  const a = w[4] >>> 0, sai = w[5], sak = w[6], strideA = w[7];
  const b = w[8] >>> 0, ldb = w[9], strideB = w[10];
  const m = w[11], n = w[12], k = w[13], t = w[14];
  const h = w[15], hc = w[16], ha = w[17], hb = w[18];
  const types = w[19], shift = w[20];
  const aT = types & 3, bT = (types >> 2) & 3, cT = (types >> 4) & 3;
  if (types >>> 6 !== 0) throw new RangeError(`QGEMM types = ${types}: only bits 0–5 (aType | bType << 2 | cType << 4) may be set`);
  checkType('QGEMM aType', aT, [Q_I8, Q_I16]);
  checkType('QGEMM bType', bT, [Q_I8, Q_I16]);
  checkType('QGEMM cType', cT, [Q_I8, Q_I16, Q_I32]);
  for (const [name, v] of [['m', m], ['n', n], ['k', k], ['t', t], ['h', h]] as const) checkCount(`QGEMM ${name}`, v);
  if (!Number.isInteger(shift) || Math.abs(shift) > MAX_QGEMM_SHIFT) {
    throw new RangeError(`QGEMM shift = ${shift}: must be in [-${MAX_QGEMM_SHIFT}, ${MAX_QGEMM_SHIFT}]`);
  }
  const aB = 1 << aT, bB = 1 << bT, cB = 1 << cT;
  for (let x = 0; x < h; x++) {
    const cx = at(c, Math.imul(x, hc), cB), ax = at(a, Math.imul(x, ha), aB), bx = at(b, Math.imul(x, hb), bB);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let exact = 0;
        for (let tt = 0; tt < t; tt++) {
          for (let kk = 0; kk < k; kk++) {
            const ia = (Math.imul(tt, strideA) + Math.imul(i, sai) + Math.imul(kk, sak)) | 0;
            const ib = (Math.imul(tt, strideB) + Math.imul(kk, ldb) + j) | 0;
            exact += Math.imul(load(mem, ax, ia, aT), load(mem, bx, ib, bT));
          }
        }
        const wrapped = exact | 0;
        if (wrapped !== exact) counters.overflows++;
        const out = cT === Q_I32 ? wrapped : requantize(wrapped, shift, FORMATS[cT], 'nearest-even', counters);
        store(mem, cx, (Math.imul(i, ldc) + j) | 0, out, cT);
      }
    }
  }
}

function qpermute(mem: DataView, w: Int32Array): void {
  const dst = w[2] >>> 0, src = w[3] >>> 0, rank = w[4], eb = w[5];
  if (eb !== 1 && eb !== 2 && eb !== 4) throw new RangeError(`QPERMUTE elemBytes = ${eb}: must be 1, 2 or 4`);
  const dims = Array.from(w.subarray(6, 6 + rank)), strides = Array.from(w.subarray(6 + rank, 6 + 2 * rank));
  dims.forEach((d, j) => checkCount(`QPERMUTE dims[${j}]`, d));
  const total = dims.reduce((p, d) => p * d, 1);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < total; o++) {
    // idx = o in row-major digits of dims; the source element is Σ idx_j · strides_j.
    let rest = o, off = 0;
    for (let j = rank - 1; j >= 0; j--) {
      idx[j] = rest % dims[j];
      rest = (rest - idx[j]) / dims[j];
      off = (off + Math.imul(idx[j], strides[j])) | 0;
    }
    const s = at(src, off, eb), d = at(dst, o, eb);
    if (eb === 1) mem.setUint8(d, mem.getUint8(s));
    else if (eb === 2) mem.setUint16(d, mem.getUint16(s, true), true);
    else mem.setUint32(d, mem.getUint32(s, true), true);
  }
}

function qbias(mem: DataView, w: Int32Array, counters: QuantCounters): void {
  const y = w[2] >>> 0, bias = w[3] >>> 0, rows = w[4], cols = w[5], type = w[6];
  checkType('QBIAS type', type, [Q_I8, Q_I16, Q_I32]);
  checkCount('QBIAS rows', rows);
  checkCount('QBIAS cols', cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const i = (Math.imul(r, cols) + j) | 0;
      const v = load(mem, y, i, type) + load(mem, bias, j, Q_I32); // exact: |v| < 2^32
      store(mem, y, i, sat(v, type, counters), type);
    }
  }
}

function qrelu(mem: DataView, w: Int32Array): void {
  const y = w[2] >>> 0, x = w[3] >>> 0, n = w[4], type = w[5];
  checkType('QRELU type', type, [Q_I8, Q_I16, Q_I32]);
  checkCount('QRELU n', n);
  for (let i = 0; i < n; i++) store(mem, y, i, Math.max(load(mem, x, i, type), 0), type);
}

function qlut(mem: DataView, w: Int32Array, counters: QuantCounters): void {
  const dst = w[2] >>> 0, src = w[3] >>> 0, n = w[4], table = w[5] >>> 0, type = w[6];
  checkType('QLUT type', type, [Q_I8, Q_I16, Q_I32]);
  checkCount('QLUT n', n);
  for (let i = 0; i < n; i++) {
    const v = load(mem, table, mem.getUint8(at(src, i, 1)), Q_I32);
    if (v < typeMin(type) || v > typeMax(type)) counters.overflows++; // the store keeps the low bits
    store(mem, dst, i, v, type);
  }
}

function qaffine(mem: DataView, w: Int32Array, counters: QuantCounters): void {
  const dst = w[2] >>> 0, src = w[3] >>> 0, mean = w[4] >>> 0, invStd = w[5] >>> 0;
  const rows = w[6], cols = w[7], type = w[8], frac = w[9];
  checkType('QAFFINE type', type, [Q_I8, Q_I16, Q_I32]);
  checkCount('QAFFINE rows', rows);
  checkCount('QAFFINE cols', cols);
  if (Math.abs(frac) > MAX_FRAC) throw new RangeError(`QAFFINE frac = ${frac}: must be in [-${MAX_FRAC}, ${MAX_FRAC}]`);
  const scale = 2 ** frac;
  const f32 = (base: number, i: number): number => mem.getFloat32(at(base, i, 4), true);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const i = (Math.imul(r, cols) + j) | 0;
      // f32 − and × computed in f64 then rounded once are the correctly rounded f32 operations.
      const v = Math.fround(Math.fround(f32(src, i) - f32(mean, j)) * f32(invStd, j));
      const y = v * scale; // exact: a power-of-two scale of an f32 stays a normal f64
      let q: number;
      if (Number.isNaN(y)) { counters.nans++; q = 0; } else q = roundHalfEven(Math.max(-AFFINE_CLAMP, Math.min(AFFINE_CLAMP, y)));
      store(mem, dst, i, sat(q, type, counters) | 0, type);
    }
  }
}

/** The word count of the op starting at prog[p], from its layout (QPERMUTE needs its rank). */
function layoutLength(prog: Int32Array, p: number): number {
  const code = prog[p];
  if (code === OP_QGEMM) return 21;
  if (code === OP_QPERMUTE) {
    if (p + 4 >= prog.length) throw new RangeError(`QPERMUTE at word ${p}: the program ends before its rank word`);
    const rank = prog[p + 4];
    if (rank < 1) throw new RangeError(`QPERMUTE at word ${p}: rank = ${rank}: must be ≥ 1`);
    return 6 + 3 * rank;
  }
  if (code === OP_QBIAS) return 7;
  if (code === OP_QRELU) return 6;
  if (code === OP_QLUT) return 7;
  if (code === OP_QAFFINE) return 10;
  throw new RangeError(`op code ${code} at word ${p}: not an integer inference op (18–23: QGEMM, QPERMUTE, QBIAS, QRELU, QLUT, QAFFINE)`);
}

/**
 * Runs a linked program of ops 18–23 (`prog`, all of it) over the memory image `mem`, as the core's
 * tnRun does, adding what happened to `counters`. Throws on an unknown op, a length word that
 * disagrees with the op's layout, a program that ends inside an op, or an out-of-range word.
 */
export function runQuantProgram(mem: DataView, prog: Int32Array, counters: QuantCounters): void {
  let p = 0;
  while (p < prog.length) {
    if (p + 1 >= prog.length) throw new RangeError(`op at word ${p}: the program ends before its length word`);
    const code = prog[p], len = prog[p + 1];
    const want = layoutLength(prog, p);
    if (len !== want) throw new RangeError(`${opName(code)} at word ${p}: length word = ${len}, but its layout has ${want} words`);
    if (p + len > prog.length) throw new RangeError(`${opName(code)} at word ${p}: ${len} words, but the program ends at ${prog.length}`);
    const w = prog.subarray(p, p + len);
    try {
      if (code === OP_QGEMM) qgemm(mem, w, counters);
      else if (code === OP_QPERMUTE) qpermute(mem, w);
      else if (code === OP_QBIAS) qbias(mem, w, counters);
      else if (code === OP_QRELU) qrelu(mem, w);
      else if (code === OP_QLUT) qlut(mem, w, counters);
      else qaffine(mem, w, counters);
    } catch (err) {
      // DataView reports an address outside the image as a bare RangeError: say which op.
      if (err instanceof RangeError && !err.message.startsWith(opName(code))) {
        throw new RangeError(`${opName(code)} at word ${p}: ${err.message}`);
      }
      throw err;
    }
    p += len;
  }
}
