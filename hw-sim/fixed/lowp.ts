// Golden model of the low-precision training kernels (assembly/lowp.ts), built on fixed-point.ts's
// quantize and dotI16, and the scale policy of dynamic fixed point: per tensor and per step, a
// power-of-two scale from the largest |x|, and operand widths small enough that an int32 sum of k
// int16 products cannot wrap.
import { quantize, dotI16, newCounters, Pcg32, type FixedCounters, type Rounding } from './fixed-point.js';

/**
 * Bits per int16 operand (sign included) so that k products never overflow int32. A value of b
 * bits is at most 2^(b−1) in magnitude (rounding may reach the top), so the sum is at most
 * k·2^(2(b−1)), which must stay below 2^31: b = ⌈(31 − log2 k)/2⌉, at most 16.
 * k = 1: 16 bits; k = 128: 12; k = 784: 11.
 */
export function operandBits(k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k = ${k}: must be an integer >= 1`);
  let b = 16;
  while (b > 1 && k * 4 ** (b - 1) >= 2 ** 31) b--; // exact: k·2^(2b−2) < 2^62
  return b;
}

/** Exponent of x's leading bit: ⌊log2 x⌋ for finite x > 0, exact (no Math.log2 rounding). */
function floorLog2(x: number): number {
  let e = Math.floor(Math.log2(x));
  while (2 ** e > x) e--;
  while (2 ** (e + 1) <= x) e++;
  return e;
}

/**
 * The largest frac with maxAbs·2^frac < 2^(bits−1): every value of the tensor fits `bits` signed
 * bits after rounding down, and a value at maxAbs uses the top bit. maxAbs 0 (or not finite): 0.
 */
export function dynamicFrac(maxAbs: number, bits: number): number {
  if (!(maxAbs > 0) || !Number.isFinite(maxAbs)) return 0;
  return Math.max(-64, Math.min(64, bits - 2 - floorLog2(maxAbs)));
}

/** What quantI16 writes: q (ldq per output row, zero-padded) and the saturation count. */
export function quantI16(x: ArrayLike<number>, ldx: number, rows: number, cols: number, transpose: boolean, ldq: number,
                         frac: number, rounding: Extract<Rounding, 'nearest-even' | 'stochastic'>, rng?: Pcg32): { q: Int16Array; counters: FixedCounters } {
  const counters = newCounters();
  const q = new Int16Array((transpose ? cols : rows) * ldq);
  const fmt = { bits: 16 as const, frac };
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = quantize(x[r * ldx + c], fmt, rounding, counters, rng);
      q[transpose ? c * ldq + r : r * ldq + c] = v;
    }
  }
  return { q, counters };
}

/** Wellons' lowbias32 on u32 (assembly/lowp.ts mix32). */
function mix32(x: number): number {
  x ^= x >>> 16; x = Math.imul(x, 0x7feb352d); x ^= x >>> 15; x = Math.imul(x, 0x846ca68b); return (x ^ (x >>> 16)) >>> 0;
}

/** Element e's stochastic-rounding draw under the keys (k0, k1): mix32(e + k0) ^ k1 (one round: assembly/lowp.ts says why). */
export function srDraw(e: number, k0: number, k1: number): number {
  return (mix32((e + k0) >>> 0) ^ k1) >>> 0;
}

/**
 * Stochastic rounding of the training GEMM's operands (assembly/lowp.ts sr16), in f32: y = x·s,
 * f = y − ⌊y⌋, up iff draw >> 8 < f·2^24, saturated to int16. x finite, s a power of two with
 * |x·s| < 2^15. Each Math.fround is one f32 operation (a single f64 op on f32 values rounds to
 * the same f32).
 */
export function srQuantI16(x: number, s: number, draw: number): number {
  const y = Math.fround(x * s), fl = Math.floor(y);
  const q = fl + ((draw >>> 8) < Math.fround(y - fl) * 16777216 ? 1 : 0);
  return Math.max(-32768, Math.min(32767, q));
}

/** gemmI16: C = (accumulate ? C : 0) + f32(f32(Σ_k A[i,k]·Bᵀ[j,k] mod 2^32) · scale), in place on c. */
export function gemmI16(c: Float32Array, ldc: number, a: Int16Array, lda: number, bt: Int16Array, ldb: number,
                        m: number, n: number, kp: number, scale: number, accumulate: boolean, counters?: FixedCounters): void {
  const s = Math.fround(scale);
  for (let i = 0; i < m; i++) {
    const ai = a.subarray(i * lda, i * lda + kp);
    for (let j = 0; j < n; j++) {
      const acc = dotI16(ai, bt.subarray(j * ldb, j * ldb + kp), counters);
      const v = Math.fround(Math.fround(acc) * s);
      c[i * ldc + j] = accumulate ? Math.fround(c[i * ldc + j] + v) : v;
    }
  }
}

/** The f32 GEMM op's fields (src/tn/compile.ts 'gemm'), offsets in floats into one memory view. */
export interface GemmFields {
  c: number; ldc: number; a: number; sai: number; sak: number; strideA: number; b: number; ldb: number; strideB: number;
  m: number; n: number; k: number; t: number; acc: boolean; h: number; hc: number; ha: number; hb: number;
}

/**
 * The GEMM_I16 op (assembly/tn.ts) on `mem`, in place: per head, A's and B's t blocks quantised
 * nearest-even (mode 0) or stochastically (`stochastic` given: srQuantI16 with element e's draw
 * srDraw(e, keys), the head's four keys drawn from PCG32(seed, stream)) at dynamicFrac(largest
 * |x|, operandBits(k·t)), the int16 GEMM, the rescale by 2^−(fracA + fracB) in f32; an operand
 * with NaN or ±∞ makes the head's C all NaN. Returns the fracs used, head by head (NaN for such a head).
 */
/** GEMM_I16's counters (assembly/lowp.ts addCounts): values quantised, nonzero values rounded to 0, heads with a NaN or ±∞ operand. */
export interface Int16Counts { values: number; flushed: number; nonFinite: number }

export function gemmI16Op(mem: Float32Array, g: GemmFields, stochastic?: { seed: bigint; stream: number; a?: boolean; b?: boolean }, counts?: Int16Counts): { fracA: number; fracB: number }[] {
  const kt = g.k * g.t, kp = Math.ceil(kt / 8) * 8, bits = operandBits(kt);
  // Stochastic: one PCG32 stream per run of the op gives each head four keys (A's two, B's two);
  // which operands round stochastically are GEMM_I16's mode bits (both unless said).
  const rng = stochastic ? new Pcg32(stochastic.seed, stochastic.stream) : undefined;
  const srA = rng !== undefined && stochastic!.a !== false, srB = rng !== undefined && stochastic!.b !== false;
  const pack = (x: Float32Array, rows: number, frac: number, keys: number[] | undefined): Int16Array => {
    if (!keys) return quantI16(x, kt, rows, kt, false, kp, frac, 'nearest-even').q;
    const q = new Int16Array(rows * kp), s = 2 ** frac;
    for (let r = 0; r < rows; r++) for (let i = 0; i < kt; i++) q[r * kp + i] = srQuantI16(x[r * kt + i], s, srDraw(r * kt + i, keys[0], keys[1]));
    return q;
  };
  const out: { fracA: number; fracB: number }[] = [];
  for (let i = 0; i < g.h; i++) {
    const A = new Float32Array(g.m * kt), B = new Float32Array(g.n * kt);
    for (let r = 0; r < g.m; r++) for (let tt = 0; tt < g.t; tt++) for (let kk = 0; kk < g.k; kk++) {
      A[r * kt + tt * g.k + kk] = mem[g.a + i * g.ha + tt * g.strideA + r * g.sai + kk * g.sak];
    }
    for (let j = 0; j < g.n; j++) for (let tt = 0; tt < g.t; tt++) for (let kk = 0; kk < g.k; kk++) {
      B[j * kt + tt * g.k + kk] = mem[g.b + i * g.hb + tt * g.strideB + kk * g.ldb + j];
    }
    const c = mem.subarray(g.c + i * g.hc);
    const nanHead = (): void => {
      // int16 has no NaN or ±∞: the op says so with NaN everywhere in this head's C.
      for (let r = 0; r < g.m; r++) for (let j = 0; j < g.n; j++) c[r * g.ldc + j] = NaN;
      out.push({ fracA: NaN, fracB: NaN });
      if (counts) counts.nonFinite++;
    };
    const count = (x: Float32Array, q: Int16Array, rows: number): void => {
      if (!counts) return;
      counts.values += rows * kt;
      for (let r = 0; r < rows; r++) for (let i = 0; i < kt; i++) if (q[r * kp + i] === 0 && x[r * kt + i] !== 0) counts.flushed++;
    };
    const maxAbs = (x: Float32Array): number => x.reduce((m, v) => (Math.abs(v) > m ? Math.abs(v) : m), 0);
    const keys = rng ? [rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()] : undefined;
    if (!A.every(Number.isFinite)) { nanHead(); continue; }
    const fracA = dynamicFrac(maxAbs(A), bits);
    const qa = pack(A, g.m, fracA, srA ? keys!.slice(0, 2) : undefined);
    count(A, qa, g.m);
    if (!B.every(Number.isFinite)) { nanHead(); continue; }
    const fracB = dynamicFrac(maxAbs(B), bits);
    const qb = pack(B, g.n, fracB, srB ? keys!.slice(2) : undefined);
    count(B, qb, g.n);
    gemmI16(c, g.ldc, qa, kp, qb, kp, g.m, g.n, kp, 2 ** -(fracA + fracB), g.acc);
    out.push({ fracA, fracB });
  }
  return out;
}
